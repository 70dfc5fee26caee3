// Shared by the build scripts of `rulebox` (crates/cli, which embeds the example plugins
// for the demo) and `rulebox-tests` (which also needs the test plugins): builds the plugin
// crates in the given folders as wasm32-wasip2 components.
//
// A nested cargo needs its own target directory: the outer build holds the lock on the main
// one. Both scripts share `target/plugins`, so whichever runs second finds the work done.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds every crate directly under `folders` (relative to the workspace root; one crate
/// per folder, named like the folder) and returns the folder holding the `.wasm` files.
fn build_plugins(folders: &[&str]) -> PathBuf {
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("plugins");
    for watched in folders.iter().chain(&["sdk", "wit", "Cargo.toml", "Cargo.lock"]) {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let packages: Vec<String> = folders.iter().flat_map(|dir| plugin_crates(&root.join(dir))).collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&root)
        .args(["build", "--profile", "plugin", "--target", "wasm32-wasip2", "--target-dir"])
        .arg(&target);
    for package in &packages {
        build.args(["-p", package]);
    }
    // The outer build's flags are for the host target, not for wasm.
    for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR"] {
        build.env_remove(var);
    }
    let output = build.output().expect("cannot run cargo to build the plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
            "\nInstall the target with: rustup target add wasm32-wasip2\n"
        } else {
            ""
        };
        panic!("building the plugins for wasm32-wasip2 failed:{hint}\n{stderr}");
    }
    target.join("wasm32-wasip2").join("plugin")
}

/// Package names of the plugin crates directly under `dir`.
fn plugin_crates(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The workspace's root: the nearest folder above this crate whose Cargo.toml has a
/// `[workspace]` table.
fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    manifest
        .ancestors()
        .skip(1)
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|toml| toml.lines().any(|line| line.trim() == "[workspace]"))
        })
        .expect("the crate lies inside the rulebox workspace")
        .to_path_buf()
}
