fn main() {
    std::process::exit(muxsim::cli::main());
}
