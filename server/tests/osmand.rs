//! The OsmAnd decoder against the request shapes Traccar's own decoder is tested with (query
//! parameters of OsmAnd and Traccar Client, the JSON of Traccar Client 9), their units, their
//! timestamps, and the errors an operator sees; and the devices file.
//!
//! Expected times come from GNU `date -u -d ... +%s`, not from the decoder's own arithmetic.

mod common;

use common::{config, within, TempDir, TestServer};
use convoy_server::osmand::{
    decode, decode_json, decode_params, parse_timestamp, DeviceMap, DeviceMapError, DeviceReport,
    OsmAndError, SECONDS_LIMIT,
};

/// The server's clock in these tests: 2026-01-01T00:00:00Z.
const NOW_MS: u64 = 1_767_225_600_000;

fn query(text: &str) -> Result<DeviceReport, OsmAndError> {
    decode_params(text, b"", NOW_MS)
}

fn report(text: &str) -> DeviceReport {
    query(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

fn assert_close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: None, expected {expected}"));
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: {actual}, expected {expected}"
    );
}

/// The error's message names `param` in backquotes, as an operator reads it.
fn assert_names(error: &OsmAndError, param: &str) {
    let message = error.to_string();
    assert!(
        message.contains(&format!("`{param}`")),
        "the error should name `{param}`: {message}"
    );
}

/// A request and what it reports: device, at_ms, (lat, lon), speed in km/h, heading.
type Sample = (
    &'static str,
    &'static str,
    u64,
    (f64, f64),
    Option<f64>,
    Option<f64>,
);

#[test]
fn traccar_query_samples_decode_to_device_time_position_speed_and_heading() {
    let samples: [Sample; 8] = [
        // ISO 8601 with Z, percent-encoded colons.
        (
            "id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&altitude=224.0&speed=0.0",
            "902064",
            1_453_920_947_000,
            (42.06288, -88.23412),
            Some(0.0),
            None,
        ),
        // Unix milliseconds.
        (
            "id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&speed=0.0",
            "902064",
            1_442_068_686_579,
            (42.06288, -88.23412),
            Some(0.0),
            None,
        ),
        // `yyyy-MM-dd HH:mm:ss` with `+` for the space, the id last.
        (
            "lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0&id=353861053849681",
            "353861053849681",
            1_401_873_011_000,
            (49.60688, 6.15788),
            Some(0.0),
            None,
        ),
        // Unix seconds, `bearing`.
        (
            "id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0",
            "123456",
            1_377_177_267_000,
            (60.0, 30.0),
            Some(0.0),
            Some(0.0),
        ),
        // The minimum: id, time, coordinates.
        (
            "id=123456&timestamp=1377177267&lat=60.0&lon=30.0",
            "123456",
            1_377_177_267_000,
            (60.0, 30.0),
            None,
            None,
        ),
        // `deviceid` and `heading`, no timestamp: the server's clock.
        (
            "lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456",
            "123456",
            NOW_MS,
            (60.0, 30.0),
            Some(0.0),
            Some(0.0),
        ),
        // `location=LAT,LON`.
        (
            "id=123456&timestamp=1377177267&location=60.0,30.0",
            "123456",
            1_377_177_267_000,
            (60.0, 30.0),
            None,
            None,
        ),
        // A moving vehicle: 40 knots is 74.08 km/h.
        (
            "id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24",
            "123456789012345",
            1_504_763_810_000,
            (40.7232948571, -74.0061408571),
            Some(74.08),
            Some(7.19889788244),
        ),
    ];
    for (request, device, at_ms, position, speed_kph, heading_deg) in samples {
        let got = report(request);
        assert_eq!(got.device_id, device, "{request}");
        assert_eq!(got.at_ms, at_ms, "{request}");
        assert_eq!(got.position, Some(position), "{request}");
        match speed_kph {
            Some(kph) => assert_close(got.speed_kph, kph, request),
            None => assert_eq!(got.speed_kph, None, "{request}"),
        }
        match heading_deg {
            Some(deg) => assert_close(got.heading_deg, deg, request),
            None => assert_eq!(got.heading_deg, None, "{request}"),
        }
    }
}

#[test]
fn altitude_accuracy_hdop_and_battery_are_read_in_their_units() {
    let got = report(
        "id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479&speed=0.000000&batt=87",
    );
    assert_eq!(got.device_id, "861001000719969");
    assert_eq!(got.at_ms, NOW_MS);
    assert_eq!(got.position, Some((41.666667, -0.883333)));
    assert_close(got.altitude_m, 350.059479, "altitude");
    assert_close(got.battery_pct, 87.0, "batt");

    let got = report("id=7&lat=1&lon=2&accuracy=12.5&hdop=6.0&speed=1");
    assert_close(got.accuracy_m, 12.5, "accuracy");
    assert_close(got.hdop, 6.0, "hdop");
    assert_close(got.speed_kph, 1.852, "one knot");
    assert_eq!(got.odometer_m, None);
}

#[test]
fn a_report_without_coordinates_moves_nothing() {
    // Traccar's sample of a report with only cell towers and Wi-Fi access points.
    let got = report(
        "id=123456&timestamp=1377177267&cell=257,02,16,2224&cell=257,02,16,2223,-90&wifi=00-14-22-01-23-45,-80&wifi=00-1C-B3-09-85-15,-70",
    );
    assert_eq!(got.device_id, "123456");
    assert_eq!(got.at_ms, 1_377_177_267_000);
    assert_eq!(got.position, None);
    // An empty value is an absent one.
    assert_eq!(report("id=9&lat=&lon=&speed=").position, None);
}

#[test]
fn unknown_parameters_are_ignored() {
    let plain = report("id=5&timestamp=1504763810&lat=40.5&lon=-74.25&speed=40&bearing=7");
    let extra = report(
        "id=5&ignition=true&timestamp=1504763810&rpm=933&lat=40.5&fuel=24&lon=-74.25&driverUniqueId=x&speed=40&valid=1&bearing=7&wifi=00-14-22-01-23-45,-80&note=%E2%9C%93",
    );
    assert_eq!(extra, plain);
}

#[test]
fn a_report_without_a_device_id_is_refused() {
    // Traccar's sample without an id, then an empty one.
    for request in [
        "timestamp=1377177267&lat=60.0&lon=30.0",
        "id=&timestamp=1377177267&lat=60.0&lon=30.0",
        "deviceid=%20&lat=60.0&lon=30.0",
    ] {
        let error = query(request).unwrap_err();
        assert!(
            matches!(error, OsmAndError::MissingDeviceId { .. }),
            "{request}: {error:?}"
        );
    }
    let error = query("lat=1&lon=2").unwrap_err();
    assert_names(&error, "id");
    let long = format!("id={}&lat=1&lon=2", "7".repeat(129));
    assert!(matches!(
        query(&long).unwrap_err(),
        OsmAndError::DeviceIdTooLong { len: 129, .. }
    ));
    assert_eq!(
        report(&format!("id={}", "7".repeat(128))).device_id.len(),
        128
    );
}

#[test]
fn malformed_numbers_are_refused_naming_the_parameter() {
    let base = "id=1&lat=10&lon=20";
    for param in [
        "lat", "lon", "speed", "bearing", "heading", "altitude", "accuracy", "hdop", "batt",
    ] {
        for bad in [
            "abc",
            "NaN",
            "inf",
            "-infinity",
            "1,5",
            "12x",
            "1e999",
            "0x10",
        ] {
            // The bad value comes last, so it replaces a good `lat` or `lon`.
            let request = format!("{base}&{param}={}", bad.replace(',', "%2C"));
            match query(&request) {
                Err(error @ OsmAndError::BadNumber { .. }) => assert_names(&error, param),
                other => panic!("{request}: {other:?}"),
            }
        }
    }
}

#[test]
fn coordinates_out_of_range_are_refused_naming_the_parameter() {
    for (request, param) in [
        ("id=1&lat=90.000001&lon=0", "lat"),
        ("id=1&lat=-91&lon=0", "lat"),
        ("id=1&lat=0&lon=180.5", "lon"),
        ("id=1&lat=0&lon=-181", "lon"),
        ("id=1&location=91,0", "location"),
        ("id=1&location=0,-180.01", "location"),
    ] {
        match query(request) {
            Err(error @ OsmAndError::OutOfRange { .. }) => assert_names(&error, param),
            other => panic!("{request}: {other:?}"),
        }
    }
    // The bounds themselves are places.
    assert_eq!(
        report("id=1&lat=90&lon=-180").position,
        Some((90.0, -180.0))
    );
    assert_eq!(
        report("id=1&lat=-90&lon=180").position,
        Some((-90.0, 180.0))
    );
    assert_eq!(
        report("id=1&location=-90,180").position,
        Some((-90.0, 180.0))
    );
}

#[test]
fn half_a_position_or_a_malformed_location_is_refused() {
    let error = query("id=1&lat=10").unwrap_err();
    assert_eq!(
        error,
        OsmAndError::HalfPosition {
            given: "lat",
            missing: "lon"
        }
    );
    assert_names(&error, "lon");
    assert_names(&query("id=1&lon=10").unwrap_err(), "lat");
    for location in ["60.0", "60.0;30.0", "60.0,abc", "60,30,5", ",30", "NaN,30"] {
        let request = format!("id=1&location={location}");
        match query(&request) {
            Err(error @ OsmAndError::BadLocation { .. }) => assert_names(&error, "location"),
            other => panic!("{request}: {other:?}"),
        }
    }
    // `lat`/`lon` win over `location`.
    assert_eq!(
        report("id=1&location=1,2&lat=3&lon=4").position,
        Some((3.0, 4.0))
    );
}

#[test]
fn negative_speed_heading_accuracy_and_battery_mean_unknown_and_headings_wrap() {
    let got = report("id=1&lat=1&lon=2&speed=-1&bearing=-1&accuracy=-1&hdop=-1&batt=-1");
    assert_eq!(
        (
            got.speed_kph,
            got.heading_deg,
            got.accuracy_m,
            got.hdop,
            got.battery_pct
        ),
        (None, None, None, None, None)
    );
    assert_eq!(report("id=1&heading=360").heading_deg, Some(0.0));
    assert_eq!(report("id=1&heading=450").heading_deg, Some(90.0));
    let error = query("id=1&batt=101").unwrap_err();
    assert!(matches!(error, OsmAndError::OutOfRange { .. }), "{error:?}");
    assert_names(&error, "batt");
}

#[test]
fn a_posted_form_body_decodes_like_the_query() {
    let params = "id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&speed=10&bearing=90";
    let from_query = report(params);
    let from_body = decode_params("", params.as_bytes(), NOW_MS).unwrap();
    assert_eq!(from_body, from_query);
    assert_eq!(
        decode(
            "",
            Some("application/x-www-form-urlencoded"),
            params.as_bytes(),
            NOW_MS
        )
        .unwrap(),
        from_query
    );
    // With `?` and without a content type, as some trackers post.
    assert_eq!(
        decode(&format!("?{params}"), None, b"", NOW_MS).unwrap(),
        from_query
    );
    // The body comes after the query: its values replace the query's.
    let merged = decode_params("id=1&lat=1&lon=1", b"lat=5&lon=6&speed=1", NOW_MS).unwrap();
    assert_eq!(merged.device_id, "1");
    assert_eq!(merged.position, Some((5.0, 6.0)));
}

/// Traccar Client 9's body for a phone standing still: speed 0 known, heading unknown.
const CLIENT_STILL: &str = r#"{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange","battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{},"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}"#;

#[test]
fn traccar_client_json_samples_decode() {
    let still = decode_json(CLIENT_STILL.as_bytes(), NOW_MS).unwrap();
    assert_eq!(
        still,
        DeviceReport {
            device_id: "48241179".into(),
            at_ms: 1_749_995_112_862,
            position: Some((37.4219983, -122.084)),
            speed_kph: Some(0.0),
            heading_deg: None,
            altitude_m: Some(5.0),
            accuracy_m: Some(5.0),
            hdop: None,
            battery_pct: Some(100.0),
            odometer_m: Some(0.0),
        }
    );

    // Extras of every JSON type are ignored.
    let with_extras = CLIENT_STILL.replace(
        r#""extras":{}"#,
        r#""extras":{"device_string_test":"long_device_id","device_bool_test":true,"device_integer_test":1,"device_double_test":1.345,"nested":{"a":[1,2]}}"#,
    );
    assert_eq!(decode_json(with_extras.as_bytes(), NOW_MS).unwrap(), still);

    // A moving phone: 18.67 m/s is 67.212 km/h; a battery at 0.79 is 79 %.
    let moving = r#"{"location":{"event":"motionchange","is_moving":false,"uuid":"0e9a2473-a9a7-4c00-997b-fb97d2154e75","timestamp":"2021-07-21T08:06:34.444Z","odometer":1523.5,"coords":{"latitude":-6.1148096,"longitude":106.6837015,"accuracy":3.8,"speed":18.67,"speed_accuracy":0.26,"heading":63,"heading_accuracy":0.28,"altitude":35.7,"altitude_accuracy":3.8},"activity":{"type":"still","confidence":100},"battery":{"is_charging":false,"level":0.79},"extras":{}},"device_id":"8737767034"}"#;
    let got = decode_json(moving.as_bytes(), NOW_MS).unwrap();
    assert_eq!(got.device_id, "8737767034");
    assert_eq!(got.at_ms, 1_626_854_794_444);
    assert_eq!(got.position, Some((-6.1148096, 106.6837015)));
    assert_close(got.speed_kph, 67.212, "speed");
    assert_close(got.heading_deg, 63.0, "heading");
    assert_close(got.altitude_m, 35.7, "altitude");
    assert_close(got.accuracy_m, 3.8, "accuracy");
    assert_eq!(got.battery_pct, Some(79.0));
    assert_close(got.odometer_m, 1523.5, "odometer");
}

#[test]
fn traccar_client_json_unknown_speed_heading_and_battery_are_none() {
    // An iOS simulator's report: -1 for every unknown, `floor` null, the timestamp last.
    let ios = r#"{"location":{"extras":{},"mock":true,"coords":{"speed_accuracy":-1,"speed":-1,"longitude":-122.406417,"ellipsoidal_altitude":0,"floor":null,"heading_accuracy":-1,"latitude":37.785834000000001,"accuracy":5,"altitude_accuracy":-1,"altitude":0,"heading":-1},"is_moving":false,"age":188,"odometer":0,"uuid":"2FB04C65-99CF-42AB-8DD3-EBCB4B108BF8","event":"motionchange","battery":{"level":-1,"is_charging":false},"activity":{"type":"unknown","confidence":100},"timestamp":"2025-05-09T04:11:30.579Z"},"device_id":"658765"}"#;
    let got = decode_json(ios.as_bytes(), NOW_MS).unwrap();
    assert_eq!(got.device_id, "658765");
    assert_eq!(got.at_ms, 1_746_763_890_579);
    assert_eq!(got.position, Some((37.785834, -122.406417)));
    assert_eq!(got.speed_kph, None);
    assert_eq!(got.heading_deg, None);
    assert_eq!(got.battery_pct, None);
    assert_eq!(got.altitude_m, Some(0.0));
    assert_eq!(got.accuracy_m, Some(5.0));
}

#[test]
fn json_is_chosen_by_content_type() {
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
    ] {
        let got = decode(
            "id=other&lat=1&lon=1",
            Some(content_type),
            CLIENT_STILL.as_bytes(),
            NOW_MS,
        )
        .unwrap();
        assert_eq!(got.device_id, "48241179", "{content_type}");
    }
    // Any other type: the query and the body as a form.
    let got = decode(
        "id=other&lat=1&lon=1",
        Some("text/plain"),
        br#"{"device_id":"48241179","location":{}}"#,
        NOW_MS,
    )
    .unwrap();
    assert_eq!(got.device_id, "other");
}

#[test]
fn json_errors_name_the_field() {
    let cases: [(String, &str); 9] = [
        (
            CLIENT_STILL.replace(r#","device_id":"48241179""#, ""),
            "device_id",
        ),
        (
            CLIENT_STILL.replace(r#""device_id":"48241179""#, r#""device_id":"""#),
            "device_id",
        ),
        (
            CLIENT_STILL.replace(r#""device_id":"48241179""#, r#""device_id":[1]"#),
            "device_id",
        ),
        (r#"{"device_id":"1"}"#.to_owned(), "location"),
        (
            CLIENT_STILL.replace("37.4219983,", "95.5,"),
            "location.coords.latitude",
        ),
        (
            CLIENT_STILL.replace("-122.084,", "\"-122.084\","),
            "location.coords.longitude",
        ),
        (
            CLIENT_STILL.replace(r#""longitude":-122.084,"#, ""),
            "location.coords.longitude",
        ),
        (
            CLIENT_STILL.replace(
                "2025-06-15T13:45:12.862Z\",\"coords",
                "yesterday\",\"coords",
            ),
            "location.timestamp",
        ),
        (
            CLIENT_STILL.replace(r#""level":1,"#, r#""level":79,"#),
            "location.battery.level",
        ),
    ];
    for (body, field) in cases {
        let error = decode_json(body.as_bytes(), NOW_MS).unwrap_err();
        assert_names(&error, field);
    }
    assert!(matches!(
        decode_json(b"id=1&lat=2&lon=3", NOW_MS).unwrap_err(),
        OsmAndError::BadJson(_)
    ));
    assert!(matches!(
        decode_json(b"[1]", NOW_MS).unwrap_err(),
        OsmAndError::WrongType { .. }
    ));
    // No coordinates and no timestamp: a report that moves nothing, at the server's time.
    let bare = decode_json(br#"{"location":{},"device_id":42}"#, NOW_MS).unwrap();
    assert_eq!(
        (bare.device_id.as_str(), bare.at_ms, bare.position),
        ("42", NOW_MS, None)
    );
}

#[test]
fn timestamps_in_each_of_the_four_forms() {
    let cases: [(&str, u64); 14] = [
        // Unix seconds and milliseconds.
        ("1377177267", 1_377_177_267_000),
        ("1442068686579", 1_442_068_686_579),
        ("0", 0),
        // ISO 8601: Z, offsets in each spelling, fractions truncated to milliseconds.
        ("2016-01-27T18:55:47Z", 1_453_920_947_000),
        ("2025-06-15T13:45:12.862Z", 1_749_995_112_862),
        ("2025-06-15T13:45:12.8629999Z", 1_749_995_112_862),
        ("2025-06-15T13:45:12,5z", 1_749_995_112_500),
        ("2024-02-29T23:59:59+02:00", 1_709_243_999_000),
        ("2024-02-29T23:59:59+0200", 1_709_243_999_000),
        ("2024-02-29T23:59:59+02", 1_709_243_999_000),
        ("2000-03-01T00:00:00-05:30", 951_888_600_000),
        // Without a zone, like the space form: UTC.
        ("2016-01-27T18:55:47", 1_453_920_947_000),
        // yyyy-MM-dd HH:mm:ss, UTC, with surrounding whitespace.
        ("2014-06-04 09:10:11", 1_401_873_011_000),
        (" 9999-12-31 23:59:59 ", 253_402_300_799_000),
    ];
    for (text, ms) in cases {
        assert_eq!(parse_timestamp(text), Ok(ms), "{text:?}");
    }
    // Each form through a request, too.
    for (value, ms) in [
        ("1377177267", 1_377_177_267_000),
        ("1442068686579", 1_442_068_686_579),
        ("2016-01-27T20%3A55%3A47%2B02%3A00", 1_453_920_947_000),
        ("2014-06-04%2009:10:11", 1_401_873_011_000),
    ] {
        assert_eq!(
            report(&format!("id=1&timestamp={value}")).at_ms,
            ms,
            "{value}"
        );
    }
}

#[test]
fn numeric_timestamps_switch_from_seconds_to_milliseconds_at_2_pow_31() {
    assert_eq!(SECONDS_LIMIT, 2_147_483_648);
    // The last second Unix seconds can count in 31 bits, 2038-01-19T03:14:07Z...
    assert_eq!(parse_timestamp("2147483647"), Ok(2_147_483_647_000));
    // ...and the first number read as milliseconds, 1970-01-25T20:31:23.648Z.
    assert_eq!(parse_timestamp("2147483648"), Ok(2_147_483_648));
    assert_eq!(report("id=1&timestamp=2147483647").at_ms, 2_147_483_647_000);
    assert_eq!(report("id=1&timestamp=2147483648").at_ms, 2_147_483_648);
    let json = |timestamp: &str| {
        let body = format!(r#"{{"device_id":"1","location":{{"timestamp":{timestamp}}}}}"#);
        decode_json(body.as_bytes(), NOW_MS).map(|report| report.at_ms)
    };
    assert_eq!(json("2147483647"), Ok(2_147_483_647_000));
    assert_eq!(json("2147483648"), Ok(2_147_483_648));
}

#[test]
fn malformed_timestamps_are_refused_naming_the_parameter() {
    for bad in [
        "",
        "yesterday",
        "-1377177267",
        "1377177267.5",
        "1442068686579000",
        "99999999999999999999999",
        "2016-01-27",
        "2016-1-27T18:55:47Z",
        "2016-01-27X18:55:47Z",
        "2016-13-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2100-02-29 00:00:00",
        "2016-04-31T00:00:00Z",
        "2016-01-27T24:00:00Z",
        "2016-01-27T18:60:00Z",
        "2016-01-27T18:55:47.Z",
        "2016-01-27T18:55:47+2400",
        "2016-01-27T18:55:47+02:",
        "2016-01-27T18:55:47 UTC",
        "2016-01-27T18:55:47Zjunk",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+00:01",
    ] {
        assert!(parse_timestamp(bad).is_err(), "{bad:?} was accepted");
    }
    let error = query("id=1&timestamp=2023-02-29+00:00:00").unwrap_err();
    assert!(
        matches!(error, OsmAndError::BadTimestamp { .. }),
        "{error:?}"
    );
    assert_names(&error, "timestamp");
    assert!(
        error.to_string().contains("the day is out of range"),
        "{error}"
    );
    // Leap years: 2000 has a 29 February, 1900 and 2100 do not.
    assert_eq!(
        parse_timestamp("2000-02-29T12:00:00Z").map(|ms| ms / 1000),
        Ok(951_825_600)
    );
}

#[test]
fn every_calendar_day_is_one_day_after_the_previous() {
    // Walks the calendar by hand from 1970 to 2400 through the parser: each date must be
    // exactly 86 400 s after the one before, so no month length or leap rule can be off.
    let mut expected_ms = 0;
    let mut dates = 0;
    for year in 1970..=2400 {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        for month in 1..=12 {
            let days = match month {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            for day in 1..=days {
                let text = format!("{year:04}-{month:02}-{day:02}T00:00:00Z");
                assert_eq!(parse_timestamp(&text), Ok(expected_ms), "{text}");
                expected_ms += 86_400_000;
                dates += 1;
            }
        }
    }
    assert_eq!(dates, 157_420);
    // The day after the walk, against `date -u -d 2401-01-01T00:00:00Z +%s`.
    assert_eq!(expected_ms, 13_601_088_000_000);
    assert_eq!(parse_timestamp("2401-01-01T00:00:00Z"), Ok(expected_ms));
    // And the end of the range against `date -u -d 9999-12-31T23:59:59Z +%s`.
    assert_eq!(
        parse_timestamp("9999-12-31T23:59:59.999Z"),
        Ok(253_402_300_799_999)
    );
}

#[test]
fn a_devices_file_maps_devices_to_trucks() {
    let map = DeviceMap::parse(
        "\u{feff}# phones of the night shift\n\
         \n\
         48241179   ACME-1\n\
         \t353861053849681\tACME-2   # the tracker in the cab\r\n\
         8737767034 ACME-2\n\
         dev#1 ACME-3\n",
    )
    .unwrap();
    assert_eq!(map.len(), 4);
    assert_eq!(map.truck("48241179"), Some("ACME-1"));
    assert_eq!(map.truck("353861053849681"), Some("ACME-2"));
    assert_eq!(map.truck("8737767034"), Some("ACME-2"));
    assert_eq!(map.truck("dev#1"), Some("ACME-3"));
    assert_eq!(map.truck("123456"), None);
    assert!(DeviceMap::parse("# nothing yet\n\n").unwrap().is_empty());
}

#[test]
fn a_bad_devices_file_is_refused_naming_the_line() {
    let cases: [(&str, DeviceMapError); 5] = [
        (
            "1 ACME-1\n2\n",
            DeviceMapError::Malformed {
                line: 2,
                found: "2".into(),
            },
        ),
        (
            "# header\n1 ACME 1\n",
            DeviceMapError::Malformed {
                line: 2,
                found: "1 ACME 1".into(),
            },
        ),
        (
            "1 ACME_1\n",
            DeviceMapError::BadTruckId {
                line: 1,
                truck: "ACME_1".into(),
            },
        ),
        (
            "1 ACME-1\n\n2 ACME-2\n1 ACME-3\n",
            DeviceMapError::Duplicate {
                line: 4,
                device: "1".into(),
                first: 1,
            },
        ),
        (
            "1 ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456\n",
            DeviceMapError::BadTruckId {
                line: 1,
                truck: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456".into(),
            },
        ),
    ];
    for (text, expected) in cases {
        let error = DeviceMap::parse(text).unwrap_err();
        assert_eq!(error, expected, "{text:?}");
        let line = match &expected {
            DeviceMapError::Malformed { line, .. }
            | DeviceMapError::DeviceIdTooLong { line, .. }
            | DeviceMapError::BadTruckId { line, .. }
            | DeviceMapError::Duplicate { line, .. } => *line,
        };
        assert!(
            error.to_string().starts_with(&format!("line {line}: ")),
            "{error}"
        );
    }
    let long = format!("{} ACME-1\n", "7".repeat(129));
    assert_eq!(
        DeviceMap::parse(&long).unwrap_err(),
        DeviceMapError::DeviceIdTooLong { line: 1, len: 129 }
    );
}

// ----- Against a real server: /api/osmand and the --osmand-addr listener -----

/// A server without the simulator whose devices file maps two phones and a tracker; OsmAnd on
/// `/api/osmand` and, when `osmand_addr` is given, at `/` there.
async fn osmand_server(dir: &TempDir, osmand_addr: Option<String>) -> TestServer {
    dir.write(
        "devices",
        b"# phones\n48241179 ACME-2   # Dana's phone\n902064\tACME-1\n\n123456 ACME-3\n",
    );
    TestServer::start(convoy_server::Config {
        trucks: 0,
        devices: Some(dir.path().join("devices")),
        osmand_addr,
        ..config()
    })
    .await
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The answer's status and body.
async fn answer(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = within(request.send()).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_form_moves_its_truck_and_bad_reports_append_nothing() {
    let dir = TempDir::new("osmand-server");
    let server = osmand_server(&dir, None).await;
    let url = server.url("/api/osmand");
    let client = &server.client;
    let now_s = unix_ms() / 1000;

    // OsmAnd's query form, GET, ISO 8601 timestamp, speed in knots.
    // Unix seconds, ten minutes ago.
    let secs = now_s - 600;
    let (status, body) = answer(client.get(format!(
        "{url}?id=902064&lat=41.8781&lon=-87.6298&timestamp={secs}&speed=10&bearing=181.5&hdop=6.0"
    )))
    .await;
    assert_eq!(
        (status, body.as_str()),
        (200, ""),
        "200 with an empty body, as Traccar"
    );
    let truck = server.snapshot().await.trucks.remove(0);
    assert_eq!(truck.id, "ACME-1");
    assert_eq!(truck.last_fix_ms, Some(secs * 1000));
    assert_eq!(
        truck.position.map(|p| (p.lat(), p.lon())),
        Some((41.8781, -87.6298))
    );
    assert!((truck.speed_kph.unwrap() - 18.52).abs() < 1e-3, "10 knots");
    assert_eq!(truck.heading_deg, Some(181.5));

    // A form POST with `deviceid`, `location=lat,lon` and Unix milliseconds.
    let at_ms = (now_s - 300) * 1000;
    let (status, _) = answer(
        client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "deviceid=902064&location=41.70,-87.62&timestamp={at_ms}&speed=50"
            )),
    )
    .await;
    assert_eq!(status, 200);
    // A fix older than the truck's last is answered 200 (a phone resending its buffer must be
    // able to drop it) and moves nothing.
    let (status, _) = answer(client.get(format!(
        "{url}?id=902064&lat=41.60&lon=-87.58&timestamp={}",
        now_s - 400
    )))
    .await;
    assert_eq!(status, 200);
    let truck = server.snapshot().await.trucks.remove(0);
    assert_eq!(truck.last_fix_ms, Some(at_ms));
    let (status, _) = answer(client.get(format!(
        "{url}?id=902064&lat=41.60&lon=-87.58&timestamp={}",
        now_s - 60
    )))
    .await;
    assert_eq!(status, 200);
    let truck = server.snapshot().await.trucks.remove(0);
    assert_eq!(truck.last_fix_ms, Some((now_s - 60) * 1000));
    assert_eq!(truck.position.map(|p| p.lat()), Some(41.60));

    // ISO 8601 with a zone, percent-encoded in the query.
    let (status, _) = answer(client.get(format!(
        "{url}?id=48241179&lat=39.70&lon=-86.20&timestamp=2026-12-07T12%3A00%3A00%2B00%3A00"
    )))
    .await;
    assert_eq!(status, 200);
    let acme2 = server
        .get_json::<convoy_core::wire::TruckDetail>("/api/trucks/ACME-2")
        .await;
    assert_eq!(
        acme2.truck.last_fix_ms,
        Some(parse_timestamp("2026-12-07 12:00:00").unwrap())
    );

    // Traccar Client 9's JSON: m/s speed, heading -1 unknown, odometer in metres.
    let json = serde_json::json!({
        "location": {
            "timestamp": "2026-12-07T12:00:00.500Z",
            "coords": {"latitude": 39.7684, "longitude": -86.1581, "speed": 25.0,
                       "heading": -1, "altitude": 220, "accuracy": 5},
            "is_moving": true, "odometer": 12345.0, "battery": {"level": 0.8}
        },
        "device_id": "48241179"
    });
    let (status, body) = answer(client.post(&url).json(&json)).await;
    assert_eq!((status, body.as_str()), (200, ""));
    let acme2 = server
        .snapshot()
        .await
        .trucks
        .into_iter()
        .find(|t| t.id == "ACME-2")
        .expect("ACME-2 joined the fleet");
    assert_eq!(
        acme2.last_fix_ms,
        Some(parse_timestamp("2026-12-07T12:00:00.500Z").unwrap())
    );
    assert!((acme2.speed_kph.unwrap() - 90.0).abs() < 1e-3, "25 m/s");
    assert_eq!(acme2.heading_deg, None, "-1 is unknown");
    assert_eq!(acme2.odometer_km, Some(12.345));

    // Refused, naming what is wrong, and nothing appended.
    let latest = server.stats().await.latest_event_id;
    for (request, names) in [
        (
            client.get(format!("{url}?id=999&lat=1&lon=2")),
            "unknown device \"999\"",
        ),
        (client.get(format!("{url}?lat=1&lon=2")), "no device id"),
        (
            client.get(format!("{url}?id=902064&lat=north&lon=2")),
            "`lat`",
        ),
        (
            client.get(format!("{url}?id=902064&lat=1&lon=2&speed=fast")),
            "`speed`",
        ),
        (client.get(format!("{url}?id=902064&lat=95&lon=2")), "`lat`"),
        (
            client.get(format!("{url}?id=902064&location=1;2")),
            "`location`",
        ),
        (
            client.get(format!("{url}?id=902064&lat=1&lon=2&timestamp=yesterday")),
            "`timestamp`",
        ),
        (client.get(format!("{url}?id=902064&lat=1")), "`lon`"),
        (
            client
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"location\":"),
            "not JSON",
        ),
        (
            client.post(&url).json(
                &serde_json::json!({"location": {"coords": {"latitude": 1, "longitude": 2}}}),
            ),
            "device",
        ),
    ] {
        let (status, body) = answer(request).await;
        assert_eq!(status, 400, "{names}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(names), "{names}: {message}");
    }
    // A heartbeat without coordinates is taken and moves nothing.
    let (status, _) = answer(client.get(format!("{url}?id=123456&batt=80"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        server.stats().await.latest_event_id,
        latest,
        "nothing was appended"
    );
    assert!(server
        .snapshot()
        .await
        .trucks
        .iter()
        .all(|t| t.id != "ACME-3"));
    // Five reports moved a truck; the metrics count them by their source.
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "convoy_events_appended_total{source=\"osmand\"} 5"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_osmand_listener_takes_reports_at_its_root_and_without_devices_osmand_is_off() {
    // A port of its own on 127.0.0.3: other tests bind 127.0.0.1:0 meanwhile.
    let port = std::net::TcpListener::bind("127.0.0.3:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = TempDir::new("osmand-listener");
    let server = osmand_server(&dir, Some(format!("127.0.0.3:{port}"))).await;
    let root = format!("http://127.0.0.3:{port}/");
    let client = reqwest::Client::new();
    let reached = within(async {
        loop {
            if let Ok(response) = client
                .get(format!("{root}?id=123456&lat=50.85&lon=4.35"))
                .send()
                .await
            {
                return response;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(reached.status(), 200);
    let truck = server.snapshot().await.trucks.remove(0);
    assert_eq!(truck.id, "ACME-3");
    let (status, _) = answer(client.get(format!("{root}nope"))).await;
    assert_eq!(status, 404);

    let off = TestServer::start(convoy_server::Config {
        trucks: 0,
        ..config()
    })
    .await;
    let (status, body) = answer(off.client.get(off.url("/api/osmand?id=1&lat=1&lon=2"))).await;
    assert_eq!(status, 404);
    assert!(body.contains("--devices"), "{body}");
}
