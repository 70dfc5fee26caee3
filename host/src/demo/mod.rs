//! The demo brand: generated data, the four example rules configured for a tea chain, and a
//! scripted member journey that shows each rule at work.

pub mod data;
