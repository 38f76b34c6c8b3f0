//! Byte-identical outputs across restructurings: a set of `wva` commands covering every
//! subcommand (JSON where there is one, so every digit counts) whose stdout, stderr and exit code
//! were captured before the library-first restructuring (issue 19) and must not change.
//!
//! Only project files are read (no `../shared`), so the test runs everywhere. After a deliberate
//! change of output, re-capture with `WVA_BLESS=1 cargo test --release --test golden_outputs`
//! and say why in the commit.

use std::path::PathBuf;
use std::process::Command;

/// (name, arguments after `wva`). Names are file names under `tests/fixtures/golden/`.
const COMMANDS: &[(&str, &str)] = &[
    ("plan-quickstart", "plan scenarios/quickstart.yaml -o json"),
    ("plan-quickstart-table", "plan scenarios/quickstart.yaml"),
    (
        "plan-shortage-greedy",
        "plan scenarios/gpu-shortage.yaml --solver greedy --saturation-policy priority-exhaustive -o json",
    ),
    (
        "plan-shortage-exact",
        "plan scenarios/gpu-shortage.yaml -o json",
    ),
    ("plan-mixed", "plan scenarios/mixed-gpus.yaml -o yaml"),
    (
        "plan-percentile-verify",
        "plan scenarios/percentile-slos.yaml --verify -o json",
    ),
    (
        "plan-percentile-simulate",
        "plan scenarios/percentile-slos.yaml --sizing simulate -o json",
    ),
    (
        "plan-headroom",
        "plan scenarios/azure-chat-and-code.yaml --headroom 0.3 -o json",
    ),
    (
        "plan-trace",
        "plan scenarios/quickstart.yaml --trace traces/azure-conv-like-10min.csv --workload chat-standard -o json",
    ),
    (
        "plan-load-scale-csv",
        "plan scenarios/quickstart.yaml --load-scale 2 -o csv",
    ),
    (
        "plan-cluster",
        "plan --from-cluster tests/fixtures/cluster/dump.yaml -o json",
    ),
    (
        "plan-infeasible",
        "plan tests/fixtures/impossible-slo.yaml -o json",
    ),
    (
        "simulate-quickstart",
        "simulate scenarios/quickstart.yaml -o json --requests 20000",
    ),
    (
        "simulate-quickstart-power-of-two",
        "simulate scenarios/quickstart.yaml --router power-of-two --requests 20000 -o json",
    ),
    (
        "simulate-profile-replications",
        "simulate --profile profiles/qwen2.5-14b-instruct.yaml --replicas 2 --rate-rps 7 --in-tokens 1024 --out-tokens 512 --output-dist lognormal --output-cv 0.8 --target-ttft-ms 200 --target-itl-ms 25 --replications 3 --requests 3000 -o json",
    ),
    (
        "simulate-concurrency",
        "simulate --profile profiles/qwen2.5-14b-instruct.yaml --concurrency 32 --in-tokens 1024 --out-tokens 512 --requests 3000 -o json",
    ),
    (
        "simulate-trace",
        "simulate scenarios/quickstart.yaml --trace traces/azure-conv-like-10min.csv --workload chat-standard --rate-scale 3 -o json",
    ),
    (
        "simulate-kv-preemption",
        "simulate --profile profiles/qwen2.5-14b-instruct.yaml --replicas 1 --rate-rps 0.7 --in-tokens 1024 --out-tokens 4096 --requests 2000 -o json",
    ),
    (
        "replay-conv",
        "replay scenarios/azure-chat-and-code.yaml --trace traces/azure-conv-like-10min.csv --workload conversation --rate-scale 4 -o json",
    ),
    (
        "replay-mixed-policies",
        "replay scenarios/mixed-gpus.yaml --trace traces/azure-conv-like-10min.csv --rate-scale 4 --accelerator H100,L40S --router least-outstanding --policy wva-predictive,saturation,saturation-v2,static -o json",
    ),
    (
        "analyze-size",
        "analyze --alpha 12 --beta 0.05 --gamma 0.0005 --max-batch 48 --in-tokens 128 --out-tokens 512 --target-ttft-ms 60 --target-itl-ms 20 -o json",
    ),
    (
        "analyze-profile",
        "analyze --profile profiles/qwen2.5-14b-instruct.yaml --in-tokens 1024 --out-tokens 512 --rate-rps 2 -o json",
    ),
    (
        "analyze-v3",
        "analyze --perf-model wva-v3 --alpha 12 --beta 0.05 --gamma 0.0005 --max-batch 48 --in-tokens 128 --out-tokens 512 --rate-rps 3",
    ),
    (
        "estimate-sweep",
        "estimate tests/fixtures/estimate/sweep.csv --max-batch 64 --report",
    ),
    (
        "estimate-generic",
        "estimate tests/fixtures/estimate/generic.csv --columns batch=bs,time_ms=itl,context_tokens=ctx,prefill_tokens=prefill --report",
    ),
    (
        "estimate-observations",
        "estimate examples/observed/observations.csv --perf-model wva-v2 --max-num-batched-tokens 8192 --report",
    ),
    (
        "estimate-single-point-strict",
        "estimate tests/fixtures/estimate/single-point.csv --strict",
    ),
    (
        "apply-quickstart",
        "apply scenarios/quickstart.yaml --schema v0.5 --namespace llm",
    ),
    ("apply-v04-json", "apply scenarios/mixed-gpus.yaml -o json"),
    (
        "apply-infeasible",
        "apply tests/fixtures/impossible-slo.yaml --fail-on-infeasible",
    ),
    (
        "trace-stats",
        "trace stats traces/azure-conv-like-10min.csv -o json",
    ),
    (
        "trace-stats-window",
        "trace stats traces/azure-code-like-10min.csv --rate-scale 2 --window 0..300",
    ),
    (
        "trace-synth",
        "trace synth --rate-rps 2 --in-tokens 1000 --out-tokens 200 --output-dist exponential --requests 50",
    ),
    (
        "trace-convert",
        "trace convert traces/azure-code-like-10min.csv --to vidur --max-requests 20",
    ),
    (
        "validate-closed-forms",
        "validate --section closed-forms --commit example -q",
    ),
    ("schema-plan", "schema plan"),
    ("bad-input", "plan tests/bad-inputs/does-not-exist.yaml"),
    // The help of every command that takes a value from a list (captured before the clap
    // value lists moved to the command line, issue 19).
    ("help-plan", "plan --help"),
    ("help-simulate", "simulate --help"),
    ("help-replay", "replay --help"),
    ("help-estimate", "estimate --help"),
    ("help-apply", "apply --help"),
    ("help-analyze", "analyze --help"),
    ("help-validate", "validate --help"),
    ("help-observe", "observe --help"),
    ("help-trace-stats", "trace stats --help"),
    ("help-trace-synth", "trace synth --help"),
    ("help-trace-convert", "trace convert --help"),
];

fn capture(args: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_wva"))
        .current_dir(&root)
        .args(args.split_whitespace())
        .output()
        .unwrap();
    format!(
        "$ wva {args}\nexit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn outputs_are_byte_identical_to_the_captured_ones() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden");
    let bless = std::env::var_os("WVA_BLESS").is_some();
    if bless {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut failures = Vec::new();
    for (name, args) in COMMANDS {
        let actual = capture(args);
        let path = dir.join(format!("{name}.txt"));
        if bless {
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (capture with WVA_BLESS=1)", path.display()));
        if actual != expected {
            let line = actual
                .lines()
                .zip(expected.lines())
                .position(|(a, e)| a != e)
                .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
            failures.push(format!(
                "{name}: differs from {} at line {}:\n  expected: {}\n  actual:   {}",
                path.display(),
                line + 1,
                expected.lines().nth(line).unwrap_or("<end>"),
                actual.lines().nth(line).unwrap_or("<end>"),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} outputs changed:\n{}",
        failures.len(),
        COMMANDS.len(),
        failures.join("\n")
    );
}
