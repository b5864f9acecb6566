fn main() -> std::process::ExitCode {
    muxsim::cli::run(muxsim::Registry::builtin())
}
