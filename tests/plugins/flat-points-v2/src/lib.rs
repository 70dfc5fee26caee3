//! flat-points 2.0.0 (see ../flat_points.rs).
const VERSION: &str = "2.0.0";
const MULTIPLIER: i64 = 2;
include!("../../flat_points.rs");
