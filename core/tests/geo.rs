//! The spherical geometry against known values: closed-form distances on the sphere, a
//! published cross-track example, and a WGS84 geodesic for a real pair of cities.

use convoy_core::geo::{
    along_track_m, cross_track_m, destination, distance_m, distance_to_segment_m,
    initial_bearing_deg, intermediate, project_on_segment, GeoError, LatLon, EARTH_RADIUS_M,
};
use std::f64::consts::PI;

fn ll(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon).unwrap()
}

const CHICAGO: (f64, f64) = (41.8781, -87.6298);
const INDIANAPOLIS: (f64, f64) = (39.7684, -86.1581);

fn city(c: (f64, f64)) -> LatLon {
    ll(c.0, c.1)
}

fn close(got: f64, want: f64, tolerance: f64) -> bool {
    (got - want).abs() <= tolerance
}

#[test]
fn haversine_gives_the_closed_form_distances_of_the_sphere() {
    // On a sphere these are exact: an arc of θ radians is R·θ long. A millimetre is far above
    // f64 rounding at these sizes and far below any mistake in the formula or the radius.
    let degree = EARTH_RADIUS_M * PI / 180.0;
    assert!((degree - 111_195.08).abs() < 0.01, "{degree}");
    let cases = [
        (ll(0.0, 0.0), ll(0.0, 1.0), degree),
        (ll(10.0, 20.0), ll(11.0, 20.0), degree),
        // Across the antimeridian.
        (ll(0.0, 179.5), ll(0.0, -179.5), degree),
        (ll(0.0, 0.0), ll(90.0, 0.0), EARTH_RADIUS_M * PI / 2.0),
        (ll(0.0, 0.0), ll(0.0, 180.0), EARTH_RADIUS_M * PI),
        (ll(45.0, 7.0), ll(45.0, 7.0), 0.0),
    ];
    for (a, b, want) in cases {
        let got = distance_m(a, b);
        assert!(
            close(got, want, 1e-3),
            "{a:?} -> {b:?}: {got} m, want {want} m"
        );
        assert_eq!(got.to_bits(), distance_m(a, b).to_bits());
        assert!(close(distance_m(b, a), want, 1e-3));
    }
}

#[test]
fn chicago_to_indianapolis_is_about_265_km_as_on_the_ellipsoid() {
    // Reference: the WGS84 geodesic between the two points by Karney's algorithm
    // (GeographicLib 2.1, Geodesic.WGS84.Inverse): 265 134.57 m, initial azimuth 151.596°.
    // Tolerance: a sphere of the mean radius differs from the ellipsoid by its radii of
    // curvature, which at 40–42°N run from M = 6 362.7 km (north–south) to N = 6 387.3 km
    // (east–west), i.e. -0.13 % to +0.25 % of R = 6 371.0 km; so any course there may differ by
    // at most 0.25 %. The bearing differs by the same kind of flattening effect, well under 0.2°.
    let got = distance_m(city(CHICAGO), city(INDIANAPOLIS));
    let geodesic = 265_134.57;
    assert!(
        ((got - geodesic) / geodesic).abs() <= 0.0025,
        "{got} m against the geodesic {geodesic} m"
    );
    assert!((got / 1000.0).round() == 265.0, "{got}");
    let bearing = initial_bearing_deg(city(CHICAGO), city(INDIANAPOLIS));
    assert!(close(bearing, 151.596, 0.2), "{bearing}");
}

#[test]
fn bearings_point_the_right_way() {
    let o = ll(0.0, 0.0);
    assert!(close(initial_bearing_deg(o, ll(1.0, 0.0)), 0.0, 1e-9));
    assert!(close(initial_bearing_deg(o, ll(0.0, 1.0)), 90.0, 1e-9));
    assert!(close(initial_bearing_deg(o, ll(-1.0, 0.0)), 180.0, 1e-9));
    assert!(close(initial_bearing_deg(o, ll(0.0, -1.0)), 270.0, 1e-9));
    assert_eq!(initial_bearing_deg(o, o), 0.0);
    // Veness' example path: 96.0°, as published.
    let b = initial_bearing_deg(ll(53.3206, -1.7297), ll(53.1887, 0.1334));
    assert!(close(b, 96.0, 0.01), "{b}");
}

#[test]
fn cross_and_along_track_match_the_published_example() {
    // Veness, "Cross-track distance": the point (53.2611, -0.7972) against the path from
    // (53.3206, -1.7297) to (53.1887, 0.1334) is -307.5 m off it (left) and 62.331 km along it,
    // with R = 6 371 km. With the mean radius used here the jord crate's tests give
    // -307.549994 m; the along-track value scales with R to 62 331.58 m.
    let p = ll(53.2611, -0.7972);
    let (a, b) = (ll(53.3206, -1.7297), ll(53.1887, 0.1334));
    let xt = cross_track_m(p, a, b);
    assert!(close(xt, -307.549994, 1e-3), "{xt}");
    let at = along_track_m(p, a, b);
    assert!(close(at, 62_331.58, 0.01), "{at}");
    assert!(close(at * 6_371_000.0 / EARTH_RADIUS_M, 62_331.49, 0.01));
    // Right of the path is positive; behind the start is negative along.
    assert!(cross_track_m(p, b, a) > 0.0);
    assert!(along_track_m(a, p, b) < 0.0);
    let proj = project_on_segment(p, a, b);
    assert!(close(proj.along_m, at, 1e-9));
    assert!(close(proj.distance_m, 307.549994, 1e-3));
    assert!(close(proj.length_m, distance_m(a, b), 1e-9));
}

#[test]
fn distance_to_a_segment_is_clamped_to_its_ends() {
    let (a, b) = (ll(0.0, 0.0), ll(0.0, 1.0));
    // Beside the middle: the perpendicular, 0.1° of arc.
    let beside = ll(0.1, 0.5);
    let tenth = EARTH_RADIUS_M * PI / 1800.0;
    assert!(close(distance_to_segment_m(beside, a, b), tenth, 1e-3));
    // On the great circle but beyond either end: the distance to that end, not 0.
    let beyond = ll(0.0, 1.5);
    assert!(close(cross_track_m(beyond, a, b), 0.0, 1e-6));
    assert!(close(
        distance_to_segment_m(beyond, a, b),
        distance_m(beyond, b),
        1e-6
    ));
    let behind = ll(0.2, -0.3);
    assert!(close(
        distance_to_segment_m(behind, a, b),
        distance_m(behind, a),
        1e-6
    ));
    let proj = project_on_segment(beyond, a, b);
    assert_eq!(proj.along_m, proj.length_m);
    assert_eq!(project_on_segment(behind, a, b).along_m, 0.0);
    // A segment whose ends coincide is a point.
    assert!(close(
        distance_to_segment_m(beside, a, a),
        distance_m(beside, a),
        1e-9
    ));
}

#[test]
fn destination_and_intermediate_points_land_where_the_distances_say() {
    let (c, i) = (city(CHICAGO), city(INDIANAPOLIS));
    let whole = distance_m(c, i);
    for f in [0.0, 0.25, 0.5, 0.9, 1.0] {
        let p = intermediate(c, i, f);
        assert!(close(distance_m(c, p), f * whole, 1e-3), "{f}");
        assert!(distance_to_segment_m(p, c, i) < 1e-3);
    }
    let p = destination(c, initial_bearing_deg(c, i), whole);
    assert!(distance_m(p, i) < 1e-3, "{p:?}");
    // Across the antimeridian, the longitude wraps into range.
    let east = destination(ll(0.0, 179.9), 90.0, 50_000.0);
    assert!(east.lon() < -179.0 && east.lon() >= -180.0, "{east:?}");
}

#[test]
fn positions_out_of_range_are_refused_naming_the_field() {
    assert_eq!(LatLon::new(90.5, 0.0), Err(GeoError::Lat(90.5)));
    assert_eq!(LatLon::new(0.0, -180.01), Err(GeoError::Lon(-180.01)));
    assert!(matches!(LatLon::new(f64::NAN, 0.0), Err(GeoError::Lat(_))));
    assert!(matches!(
        LatLon::new(0.0, f64::INFINITY),
        Err(GeoError::Lon(_))
    ));
    assert_eq!(GeoError::Lat(91.0).field(), "lat");
    assert!(GeoError::Lon(200.0).to_string().starts_with("lon "));
    for edge in [(90.0, 180.0), (-90.0, -180.0), (0.0, 0.0)] {
        assert!(LatLon::new(edge.0, edge.1).is_ok());
    }

    // JSON: {"lat","lon"}, checked when read.
    let p: LatLon = serde_json::from_str(r#"{"lat":41.8781,"lon":-87.6298}"#).unwrap();
    assert_eq!(p, city(CHICAGO));
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"lat":41.8781,"lon":-87.6298}"#
    );
    let err = serde_json::from_str::<LatLon>(r#"{"lat":91,"lon":0}"#).unwrap_err();
    assert!(err.to_string().starts_with("lat must be"), "{err}");
    let err = serde_json::from_str::<LatLon>(r#"{"lat":0,"lon":181}"#).unwrap_err();
    assert!(err.to_string().starts_with("lon must be"), "{err}");
    assert!(serde_json::from_str::<LatLon>(r#"{"lat":0}"#).is_err());
}
