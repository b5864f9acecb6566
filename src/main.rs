// Counts what a service allocates in its calls, for the heap check.
#[global_allocator]
static ALLOC: muxsim::CountingAllocator = muxsim::CountingAllocator;

fn main() -> std::process::ExitCode {
    muxsim::cli::run(muxsim::Registry::builtin())
}
