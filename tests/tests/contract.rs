//! The plugin contract as a built component: what a plugin imports and exports.

use rulebox_sandbox::{Limits, LoadError};
use rulebox_tests::{plugin_wasm, sandbox};

#[test]
fn example_plugin_imports_only_rulebox_and_the_wasi_std_needs() {
    let imports = sandbox().imports(&plugin_wasm("welcome-bonus")).unwrap();
    assert!(
        imports.contains(&"rulebox:plugin/host@0.1.0".to_owned()),
        "{imports:?}"
    );
    for name in &imports {
        let allowed = name.starts_with("rulebox:plugin/")
            || [
                "wasi:cli/",
                "wasi:io/",
                "wasi:clocks/",
                "wasi:filesystem/",
                "wasi:random/",
            ]
            .iter()
            .any(|p| name.starts_with(p));
        assert!(allowed, "unexpected import {name}");
        assert!(!name.starts_with("wasi:sockets") && !name.starts_with("wasi:http"));
    }
}

#[test]
fn example_plugin_describes_itself() {
    let plugin = sandbox()
        .load(&plugin_wasm("welcome-bonus"), Limits::default())
        .unwrap();
    assert_eq!(plugin.description.name, "welcome-bonus");
    assert_eq!(plugin.description.version, "0.1.0");
    assert_eq!(plugin.description.events.len(), 1);
}

#[test]
fn core_modules_and_garbage_are_refused_with_a_clear_error() {
    let core_module = b"\0asm\x01\0\0\0";
    let err = sandbox()
        .load(core_module, Limits::default())
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::NotAComponent(_)), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"), "{err}");

    let truncated = &plugin_wasm("welcome-bonus")[..1000];
    assert!(matches!(
        sandbox().load(truncated, Limits::default()),
        Err(LoadError::NotAComponent(_))
    ));
    assert!(matches!(
        sandbox().load(b"hello", Limits::default()),
        Err(LoadError::NotAComponent(_))
    ));
}
