//! The smart-irrigation controller in Rust, with the behaviour of the Python one
//! (examples/smart-irrigation/modules/controller/main.py), alert texts byte for byte: it opens
//! the valve when a sensor reports soil drier than the threshold and the weather service does
//! not expect rain, and closes it once every sensor is 10 points above the threshold again.

#[authex::module]
mod controller {
    use std::collections::BTreeMap;

    use authex::Context;
    use serde_json::Value;

    authex::outputs!(valve_command, alert);
    authex::requests!(forecast);

    struct State {
        threshold: f64,
        valve_open: bool,
        latest: BTreeMap<String, f64>,
    }

    impl Default for State {
        fn default() -> Self {
            State { threshold: 30.0, valve_open: false, latest: BTreeMap::new() }
        }
    }

    /// Python's `{:.1f}` for the special values too (`nan`, `inf`, `-inf`).
    fn one_decimal(value: f64) -> String {
        if value.is_nan() {
            "nan".into()
        } else if value.is_infinite() {
            if value > 0.0 {
                "inf".into()
            } else {
                "-inf".into()
            }
        } else {
            format!("{value:.1}")
        }
    }

    /// A JSON number (or numeric string, as Python's `float()` takes it) as f64.
    fn number(value: &Value) -> Option<f64> {
        match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The operator sets the threshold (percent) on a direct connection.
    #[authex::input]
    fn set_threshold(ctx: &mut Context, data: &[u8]) {
        let parsed = std::str::from_utf8(data).ok().and_then(|s| s.trim().parse::<f64>().ok());
        match parsed {
            Some(value) => {
                ctx.state::<State>().threshold = value;
                ctx.emit("alert", format!("threshold set to {}%", one_decimal(value)));
            }
            None => {
                let mut text = b"ignored invalid threshold ".to_vec();
                text.extend_from_slice(&data[..data.len().min(32)]);
                ctx.emit("alert", text);
            }
        }
    }

    /// A reading relayed from a sensor: `{"sensor": ..., "moisture": ...}`.
    #[authex::input]
    fn reading(ctx: &mut Context, data: &[u8]) {
        let Ok(sample) = serde_json::from_slice::<Value>(data) else {
            ctx.log("dropping a reading that is not JSON");
            return;
        };
        let sensor = match &sample["sensor"] {
            Value::String(s) => s.clone(),
            Value::Null => {
                ctx.log("dropping a reading without sensor");
                return;
            }
            other => other.to_string(),
        };
        let Some(moisture) = number(&sample["moisture"]) else {
            ctx.log("dropping a reading without moisture");
            return;
        };
        let (threshold, open) = {
            let state = ctx.state::<State>();
            state.latest.insert(sensor.clone(), moisture);
            (state.threshold, state.valve_open)
        };
        if !open && moisture < threshold {
            let answer = match ctx.request("forecast", sensor.as_bytes()) {
                Ok(answer) => answer,
                Err(error) => {
                    ctx.log(format!("no forecast: {error}"));
                    return;
                }
            };
            let forecast = serde_json::from_slice::<Value>(&answer).unwrap_or(Value::Null);
            let rain = &forecast["rain_probability"];
            let Some(probability) = number(rain) else {
                ctx.log("forecast without a rain probability");
                return;
            };
            if probability >= 50.0 {
                return;
            }
            // as Python prints the JSON value: 10 -> "10", 10.5 -> "10.5"
            let rain = match rain {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            ctx.state::<State>().valve_open = true;
            ctx.emit("valve_command", b"open");
            ctx.emit(
                "alert",
                format!(
                    "opening valve: {sensor} at {}% < {}%, rain {rain}%",
                    one_decimal(moisture),
                    one_decimal(threshold)
                ),
            );
        } else if open {
            let wet = ctx.state::<State>().latest.values().all(|m| *m >= threshold + 10.0);
            if wet {
                ctx.state::<State>().valve_open = false;
                ctx.emit("valve_command", b"close");
                ctx.emit("alert", b"closing valve: soil is wet again");
            }
        }
    }

    /// Authenticated: the current threshold.
    #[authex::entry]
    fn get_threshold(ctx: &mut Context, _arg: &[u8]) -> String {
        one_decimal(ctx.state::<State>().threshold)
    }
}

#[cfg(test)]
mod tests {
    use authex::testing::Harness;

    #[test]
    fn sets_the_threshold_and_rejects_garbage() {
        let mut h = Harness::named(crate::controller::module(), "controller").unwrap();
        h.deliver("set_threshold", b"45").unwrap();
        h.deliver("set_threshold", b"wet").unwrap();
        assert_eq!(
            h.take_emitted(),
            vec![
                ("alert".to_string(), b"threshold set to 45.0%".to_vec()),
                ("alert".to_string(), b"ignored invalid threshold wet".to_vec()),
            ]
        );
        assert_eq!(h.call("get_threshold", b"").unwrap(), b"45.0");
        h.deliver("set_threshold", b"nan").unwrap();
        assert_eq!(h.take_emitted()[0].1, b"threshold set to nan%".to_vec());
    }

    #[test]
    fn readings_without_sensor_are_dropped() {
        let mut h = Harness::named(crate::controller::module(), "controller").unwrap();
        h.deliver("reading", br#"{"moisture": 1.0}"#).unwrap();
        assert!(h.take_emitted().is_empty());
    }
}
