//! The `pact-producer` binary (also `pact function producer`).

fn main() -> std::process::ExitCode {
    pact_producer::run()
}
