//! The database migrations are embedded by `sqlx::migrate!`; rebuild when
//! they change (sqlx's recommended build script).

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
