//! flat-points 1.0.0 (see ../flat_points.rs).
const VERSION: &str = "1.0.0";
const MULTIPLIER: i64 = 1;
include!("../../flat_points.rs");
