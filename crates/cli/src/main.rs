fn main() -> std::process::ExitCode {
    preflight_cli::run(std::env::args_os())
}
