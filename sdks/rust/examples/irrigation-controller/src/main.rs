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

    /// The operator sets the threshold (percent) on a direct connection.
    #[authex::input]
    fn set_threshold(ctx: &mut Context, data: &[u8]) {
        let parsed = std::str::from_utf8(data).ok().and_then(|s| s.trim().parse::<f64>().ok());
        match parsed {
            Some(value) => {
                ctx.state::<State>().threshold = value;
                ctx.emit("alert", format!("threshold set to {value:.1}%"));
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
            other => other.to_string(),
        };
        let Some(moisture) = sample["moisture"].as_f64() else {
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
            let rain = serde_json::from_slice::<Value>(&answer)
                .ok()
                .and_then(|v| v["rain_probability"].as_i64())
                .unwrap_or(100);
            if rain >= 50 {
                return;
            }
            ctx.state::<State>().valve_open = true;
            ctx.emit("valve_command", b"open");
            ctx.emit(
                "alert",
                format!(
                    "opening valve: {sensor} at {moisture:.1}% < {threshold:.1}%, rain {rain}%"
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
        format!("{:.1}", ctx.state::<State>().threshold)
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
    }
}
