//! Distances on the Earth's surface.

use crate::GeoPoint;

/// Mean Earth radius in metres (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance between two points in metres (haversine formula), rounded to the
/// metre. Accurate to about 0.5% — plenty to rank nearby stores.
pub fn distance_m(a: GeoPoint, b: GeoPoint) -> u32 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    let metres = 2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin();
    metres.round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_known_values() {
        let p = |lat, lon| GeoPoint { lat, lon };
        // One degree of latitude is ~111.2 km everywhere.
        let d = distance_m(p(22.0, 114.0), p(23.0, 114.0));
        assert!((111_000..111_400).contains(&d), "{d}");
        assert_eq!(distance_m(p(31.23, 121.47), p(31.23, 121.47)), 0);
        // Shanghai People's Square to Shenzhen Civic Center: ~1,210 km.
        let d = distance_m(p(31.2304, 121.4737), p(22.5431, 114.0579));
        assert!((1_200_000..1_220_000).contains(&d), "{d}");
    }
}
