//! This crate's own `muxsim` command: every subcommand of muxsim (`replay`, `sim`, `fuzz`,
//! `serve`, `chaos`, …) with the kvstore services registered beside the built-in ones.
//!
//! ```text
//! cargo run -p kvstore --bin kvsim -- replay examples/kvstore/fixtures/
//! cargo run -p kvstore --bin kvsim -- fuzz --service kvstore --seeds 2000
//! ```

// Opts in to the heap check: what the services allocate in their calls is counted.
#[global_allocator]
static ALLOC: muxsim::CountingAllocator = muxsim::CountingAllocator;

fn main() -> std::process::ExitCode {
    muxsim::cli::run(kvstore::registry())
}
