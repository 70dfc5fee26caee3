//! Bindings generated from `wit/` by wit-bindgen. Kept private to the SDK: plugin authors use
//! the re-exports at the crate root and the [`export_rule!`](crate::export_rule) macro.

wit_bindgen::generate!({
    path: "../wit",
    world: "rulebox:plugin/rule-plugin@0.1.0",
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    export_macro_name: "__export_rule_plugin",
    pub_export_macro: true,
    default_bindings_module: "rulebox_sdk::bindings",
    generate_all,
});
