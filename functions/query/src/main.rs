//! The `pact-query` binary (also `pact function query`).

fn main() -> std::process::ExitCode {
    pact_query::run()
}
