//! The `pact-contactlog` binary (also `pact function contactlog`).

fn main() -> std::process::ExitCode {
    pact_contactlog::run()
}
