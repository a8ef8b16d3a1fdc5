//! Great-circle distance on a spherical Earth.

/// Mean Earth radius in km (IUGG), the usual choice for haversine distances.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle (haversine) distance in kilometres between two points given in degrees.
/// Symmetric, zero for identical points, never NaN for finite inputs.
pub fn great_circle_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frankfurt_to_hillsboro_is_about_8400_km() {
        let d = great_circle_km(50.1, 8.7, 45.5, -123.0);
        assert!((8300.0..8500.0).contains(&d), "{d}");
    }

    #[test]
    fn identical_points_are_zero_apart() {
        assert_eq!(great_circle_km(1.0, 2.0, 1.0, 2.0), 0.0);
    }
}
