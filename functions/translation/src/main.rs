//! The `pact-translation` binary (also `pact function translation`).

fn main() -> std::process::ExitCode {
    pact_translation::run()
}
