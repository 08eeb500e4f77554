//! The `pact-notify` binary (also `pact function notify`).

fn main() -> std::process::ExitCode {
    pact_notify::run()
}
