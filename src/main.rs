//! The `wva` binary: everything lives in the library's [`wva::cli`].

fn main() -> std::process::ExitCode {
    wva::cli::main()
}
