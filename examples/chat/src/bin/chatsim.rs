//! This crate's own `muxsim` command: every subcommand of muxsim with the chat services
//! registered beside the built-in ones.
//!
//! ```text
//! cargo run -p chat --bin chatsim -- fuzz --service chat --seeds 2000
//! cargo run -p chat --bin chatsim -- replay examples/chat/fixtures/
//! ```

// The heap check: what the services allocate in their calls is counted.
#[global_allocator]
static ALLOC: muxsim::CountingAllocator = muxsim::CountingAllocator;

fn main() -> std::process::ExitCode {
    muxsim::cli::run(chat::registry())
}
