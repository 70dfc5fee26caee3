//! Generates the host's Rust types from `wit/` (see `rust.rs`), so the contract is written
//! once, in WIT, and storage can use the types without depending on wasmtime.

mod rust;

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let wit = manifest.join("../../wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    println!("cargo:rerun-if-changed=build");

    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_dir(&wit)
        .unwrap_or_else(|e| panic!("cannot parse the WIT in {}: {e:?}", wit.display()));
    let code = rust::generate(&resolve, package, &["types", "rule"]);
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("wit.rs");
    std::fs::write(out, code).expect("cannot write the generated types");
}
