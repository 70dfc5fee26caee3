//! Builds the example plugins in `plugins/` as wasm32-wasip2 components and embeds them in
//! the `rulebox` binary, so `rulebox demo` runs the demo brand with no other files.

include!("build_plugins.rs");

fn main() {
    let dir = build_plugins(&["plugins"]);
    let root = workspace_root();
    let mut code = String::from("&[\n");
    for name in plugin_crates(&root.join("plugins")) {
        let wasm = dir.join(format!("{}.wasm", name.replace('-', "_")));
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?}).as_slice()),\n",
            wasm.display().to_string()
        ));
    }
    code.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("examples.rs");
    std::fs::write(out, code).unwrap();
}
