//! `wva plan --headroom` / `--target-utilization`: spare capacity, and how far the load can grow
//! before the first SLO breaks.

mod common;

use common::{wva, wva_json};

/// `--headroom H` plans replicas that keep the SLO at (1 + H) times every workload's rate, the
/// plan says how far the load can grow, and `--target-utilization U` is `--headroom 1/U - 1`.
#[test]
fn headroom_buys_load_growth() {
    let base = wva_json(&["plan", "scenarios/azure-chat-and-code.yaml"]);
    let spare = wva_json(&[
        "plan",
        "scenarios/azure-chat-and-code.yaml",
        "--headroom",
        "0.5",
    ]);
    assert_eq!(base["headroom"], 0.0);
    assert_eq!(spare["headroom"], 0.5);
    let growth = |a: &serde_json::Value| a["load_growth_to_breach"].as_f64().unwrap();
    for (b, s) in base["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .zip(spare["allocations"].as_array().unwrap())
    {
        assert_eq!(b["workload"], s["workload"]);
        assert!(growth(b) >= -1e-9, "a plan carries its load: {b}");
        assert!(growth(s) >= 0.5 - 1e-9, "50% headroom: {s}");
        assert!(s["replicas"].as_u64() >= b["replicas"].as_u64());
        // The SLO-bound rate is the replica's; the planned rate is that over 1.5.
        let slo = s["slo_rate_per_replica_rps"].as_f64().unwrap();
        let planned = s["max_rate_per_replica_rps"].as_f64().unwrap();
        assert!((planned * 1.5 - slo).abs() < 1e-9 * slo);
        // Growth = replicas x SLO-bound rate / rate - 1.
        let expected =
            s["replicas"].as_f64().unwrap() * slo / s["rate_rps"].as_f64().unwrap() - 1.0;
        assert!((growth(s) - expected).abs() < 1e-9);
    }
    let smallest = spare["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(growth)
        .fold(f64::INFINITY, f64::min);
    assert_eq!(spare["load_growth_to_breach"].as_f64(), Some(smallest));
    assert!(spare["total_cost"].as_f64() > base["total_cost"].as_f64());
    // --target-utilization 0.8 is --headroom 0.25.
    let by_utilization = wva_json(&[
        "plan",
        "scenarios/azure-chat-and-code.yaml",
        "--target-utilization",
        "0.8",
    ]);
    let by_headroom = wva_json(&[
        "plan",
        "scenarios/azure-chat-and-code.yaml",
        "--headroom",
        "0.25",
    ]);
    assert_eq!(by_utilization["allocations"], by_headroom["allocations"]);
    let cases: [(&[&str], &str); 4] = [
        (&["--headroom=-0.1"], "must be >= 0"),
        (&["--headroom", "11"], "must be from 0 to 10"),
        (&["--target-utilization", "1.5"], "must be from 0.091"),
        (&["--target-utilization", "0.05"], "must be from 0.091"),
    ];
    for (bad, message) in cases {
        let out = wva()
            .args(["plan", "scenarios/quickstart.yaml"])
            .args(bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{bad:?}: {err}");
    }
}
