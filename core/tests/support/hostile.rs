//! A hostile script on the channel: it records real frames, then posts mutated copies (each
//! number pushed to an edge, one field at a time) and garbage. The simulation and the
//! end-to-end test (`tests/e2e/hostile_frames.rs`, in JavaScript) make the same mutations.

use serde_json::Value;

use super::rng::Rng;

/// The values every number is pushed to: the largest safe integer, the first unsafe one, a
/// huge float, a negative and zero.
pub fn edge_values() -> [Value; 5] {
    [
        Value::from((1u64 << 53) - 1),
        Value::from(1u64 << 53),
        Value::from(1e300),
        Value::from(-1),
        Value::from(0),
    ]
}

/// Every copy of `raw` with one number replaced by one edge value (none if `raw` is not JSON).
pub fn mutations(raw: &str) -> Vec<String> {
    let Ok(frame) = serde_json::from_str::<Value>(raw) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    numbers(&frame, &mut Vec::new(), &mut paths);
    let mut out = Vec::new();
    for path in &paths {
        for edge in edge_values() {
            let mut copy = frame.clone();
            if let Some(slot) = at(&mut copy, path) {
                *slot = edge;
                out.push(copy.to_string());
            }
        }
    }
    out
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn numbers(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Number(_) => out.push(path.clone()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                numbers(item, path, out);
                path.pop();
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                path.push(Step::Key(key.clone()));
                numbers(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(value: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, step| match step {
        Step::Key(key) => v.get_mut(key.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// Junk that is not a frame: random text, a huge string, non-JSON, arrays, deep nesting, and
/// frames whose fields have the wrong types.
pub fn garbage(rng: &mut Rng) -> Vec<String> {
    let noise: String = (0..rng.below(200))
        .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'))
        .collect();
    vec![
        noise,
        "x".repeat(3 << 20),
        "not json {".into(),
        "[1,2,3]".into(),
        "[".repeat(5_000),
        format!("{}{}", "{\"a\":".repeat(300), "}".repeat(300)),
        r#"{"v":1,"app":"convoy","from":"x","term":[],"msg":{"type":"event"}}"#.into(),
        r#"{"v":1,"app":"convoy","from":5,"term":1,"msg":{"type":"hello","watch":{"kind":"trucks","trucks":["../../x&lastEventId=1"]},"cursor":null}}"#.into(),
        format!(
            r#"{{"v":1,"app":"convoy","from":5,"term":1,"msg":{{"type":"watch","watch":{{"kind":"trucks","trucks":["{}"]}},"cursor":null}}}}"#,
            "T".repeat(100_000)
        ),
    ]
}
