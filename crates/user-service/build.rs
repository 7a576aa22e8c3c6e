//! `sqlx_macros::migrate!` reads the migration directories at compile time; rebuilding when
//! they change makes a new migration file part of the next build.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
