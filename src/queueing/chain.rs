//! The state-dependent M/M/1/K birth-death chain of one replica.
//!
//! State `n` = requests in the replica (running + waiting), `0..=K` with `K = N + Q` (max batch
//! plus queue allowance). Arrivals at rate `lambda`; service rate `mu(n)` for `n <= N` and
//! `mu(N)` above. Requests arriving to a full replica are lost (blocking).
//!
//! The solution is `O(N)` whatever `Q` is: above the max batch the chain is geometric with ratio
//! `r = lambda/mu(N)`, so the tail sums have closed forms. Products are rescaled as they grow so
//! that no input overflows.

/// Mean-value results of the chain at one arrival rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainSolution {
    /// Offered arrival rate, requests per ms.
    pub arrival_per_ms: f64,
    /// Accepted throughput `lambda*(1 - p(K))`, requests per ms.
    pub throughput_per_ms: f64,
    /// Mean number of requests in the replica (`L`).
    pub mean_in_system: f64,
    /// Mean number of requests in service (the mean batch).
    pub mean_in_service: f64,
    /// Mean response time `L/X`, ms.
    pub response_ms: f64,
    /// Mean service time `n_serv/X`, ms.
    pub service_ms: f64,
    /// Mean queueing wait `max(R - S, 0)`, ms.
    pub wait_ms: f64,
    /// Probability the replica is full (an arrival is rejected).
    pub blocking_probability: f64,
    /// Probability the replica is idle.
    pub idle_probability: f64,
    /// Probability an accepted arrival finds every batch slot taken and waits.
    pub waiting_probability: f64,
}

/// Relative distance from `r = 1` under which the geometric tail is summed term by term
/// (the closed forms cancel badly there).
const NEAR_ONE: f64 = 1e-4;
/// Rescale running products when they pass this magnitude.
const RESCALE_ABOVE: f64 = 1e100;
/// Above this `ln(r^Q)` the tail is summed divided by `r^Q` (keeps every product below ~1e250).
const LN_TAIL_LIMIT: f64 = 300.0;
/// Sum the near-1 tail term by term only up to this many states.
const MAX_LOOP_STATES: u32 = 1_000_000;

/// Solves the chain with service rates `mu[n-1]` (requests per ms, `n = 1..=N`), queue allowance
/// `max_queue` (so `K = N + max_queue`) and arrival rate `arrival_per_ms > 0`.
///
/// Returns `None` only for degenerate inputs (empty or non-positive rates, non-positive
/// arrival rate), which validated callers never pass.
pub fn solve(mu: &[f64], max_queue: u32, arrival_per_ms: f64) -> Option<ChainSolution> {
    let head = Head::accumulate(mu, arrival_per_ms, |_, _| true)?;
    Some(head.finish(mu.len(), mu[mu.len() - 1], max_queue, arrival_per_ms))
}

/// Solves, in one pass, the chains of every max batch `N = 1..=mu.len()` at the same arrival
/// rate: the chain of max batch `N` uses `mu[..N]` and queue allowance `max_queue(N)`. Calls
/// `visit(N, solution)` for each `N` in increasing order until it returns `false`.
///
/// This works because the states up to `N` carry the same unnormalised weights whatever the max
/// batch, so each `N` only adds its own geometric tail: O(`mu.len()`) for all of them.
/// Returns `None` for degenerate inputs (as [`solve`]).
pub fn sweep(
    mu: &[f64],
    max_queue: impl Fn(u32) -> u32,
    arrival_per_ms: f64,
    mut visit: impl FnMut(usize, &ChainSolution) -> bool,
) -> Option<()> {
    Head::accumulate(mu, arrival_per_ms, |n, head| {
        let solution = head.finish(n, mu[n - 1], max_queue(n as u32), arrival_per_ms);
        visit(n, &solution)
    })
    .map(|_| ())
}

/// Running sums over the states `0..=N` of the chain.
#[derive(Clone, Copy)]
struct Head {
    /// Weight of state `N`.
    p_top: f64,
    /// Sum of weights.
    mass: f64,
    /// Sum of the weights below state `N` (kept apart: when arrivals swamp service, `mass`
    /// is `p_top` to the last digit and `mass - p_top` would lose it).
    below_top: f64,
    /// Sum of `n` times the weights.
    first: f64,
    /// Weight of state 0.
    p_idle: f64,
}

impl Head {
    /// Accumulates the head over states `0..=N` for `N = 1..=mu.len()`, calling `each(N, head)`
    /// after each (stop when it returns `false`); returns the last head, or `None` for
    /// degenerate inputs.
    fn accumulate(
        mu: &[f64],
        lambda: f64,
        mut each: impl FnMut(usize, &Head) -> bool,
    ) -> Option<Head> {
        let positive = |x: f64| x > 0.0 && x.is_finite();
        if mu.is_empty() || !positive(lambda) || !mu.iter().all(|&m| positive(m)) {
            return None;
        }
        // Unnormalised weights with p(0) = 1, rescaled as they grow.
        let mut head = Head {
            p_top: 1.0,
            mass: 1.0,
            below_top: 0.0,
            first: 0.0,
            p_idle: 1.0,
        };
        for (i, &rate) in mu.iter().enumerate() {
            head.below_top = head.mass;
            head.p_top *= lambda / rate;
            if head.p_top > RESCALE_ABOVE {
                head.scale(1.0 / head.p_top);
            }
            head.mass += head.p_top;
            head.first += (i + 1) as f64 * head.p_top;
            if !each(i + 1, &head) {
                break;
            }
        }
        Some(head)
    }

    fn scale(&mut self, factor: f64) {
        self.p_top *= factor;
        self.mass *= factor;
        self.below_top *= factor;
        self.first *= factor;
        self.p_idle *= factor;
    }

    /// Adds the geometric tail above max batch `n` (service rate `mu_top`, queue `max_queue`)
    /// and normalises.
    fn finish(mut self, n: usize, mu_top: f64, max_queue: u32, lambda: f64) -> ChainSolution {
        // Tail: states N+k, k = 1..=Q, weights p(N) r^k with r = lambda/mu(N).
        let tail = geometric_tail(lambda / mu_top, max_queue);
        let p_top = self.p_top;
        if tail.ln_divisor > 0.0 {
            // The tail sums come divided by exp(ln_divisor): divide the head by the same factor
            // (the tail is relative to p(N), which stays as it is).
            self.scale((-tail.ln_divisor).exp());
        }
        let n_top = n as f64;
        let tail_mass = p_top * tail.mass;
        let tail_first = p_top * (n_top * tail.mass + tail.first_moment);
        let p_full = p_top * tail.last;
        // States N..K-1: an arrival finds the batch full and waits (K is blocked).
        // (State N is `p_top` on the head's scale, the tail sums are divided by
        // exp(ln_divisor): bring state N to the tail's scale.)
        let p_wait = (p_top * ((-tail.ln_divisor).exp() + tail.mass) - p_full).max(0.0);

        let total = self.mass + tail_mass;
        // The mass of the states that accept an arrival, summed apart from `p_full` (not
        // `total - p_full`, which cancels to 0 when the replica is almost always full).
        let open = if max_queue == 0 {
            self.below_top
        } else {
            self.mass + p_top * tail.below_last
        };
        let mean_in_system = (self.first + tail_first) / total;
        let mean_in_service = self.first / total + n_top * (1.0 - self.mass / total);
        let blocking_probability = p_full / total;
        let throughput = lambda * (open / total);
        let response_ms = mean_in_system / throughput;
        let service_ms = mean_in_service / throughput;
        ChainSolution {
            arrival_per_ms: lambda,
            throughput_per_ms: throughput,
            mean_in_system,
            mean_in_service,
            response_ms,
            service_ms,
            wait_ms: (response_ms - service_ms).max(0.0),
            blocking_probability,
            idle_probability: self.p_idle / total,
            waiting_probability: if open > 0.0 {
                (p_wait / open).clamp(0.0, 1.0)
            } else {
                1.0
            },
        }
    }
}

/// The distribution of the number of requests in service (the running batch), `0..=N`, at
/// arrival rate `arrival_per_ms` with queue allowance `max_queue`: `P(min(n, N) = b)`.
/// `None` for degenerate inputs (as [`solve`]).
pub fn batch_distribution(mu: &[f64], max_queue: u32, arrival_per_ms: f64) -> Option<Vec<f64>> {
    let positive = |x: f64| x > 0.0 && x.is_finite();
    if mu.is_empty() || !positive(arrival_per_ms) || !mu.iter().all(|&m| positive(m)) {
        return None;
    }
    // Weights of states 0..=N in log space (no overflow).
    let mut ln_w = Vec::with_capacity(mu.len() + 1);
    ln_w.push(0.0f64);
    for &rate in mu {
        let last = ln_w[ln_w.len() - 1];
        ln_w.push(last + (arrival_per_ms / rate).ln());
    }
    // States above N, relative to state N: the geometric tail (its sums come divided by
    // exp(ln_divisor)).
    let n = mu.len();
    let tail = geometric_tail(arrival_per_ms / mu[n - 1], max_queue);
    let ln_tail = if tail.mass > 0.0 {
        ln_w[n] + tail.mass.ln() + tail.ln_divisor
    } else {
        f64::NEG_INFINITY
    };
    let top = ln_w.iter().copied().fold(ln_tail, f64::max);
    let mut p: Vec<f64> = ln_w.iter().map(|l| (l - top).exp()).collect();
    p[n] += (ln_tail - top).exp();
    let total: f64 = p.iter().sum();
    for x in &mut p {
        *x /= total;
    }
    Some(p)
}

/// Sums of the geometric tail `r^k`, `k = 1..=q`, all divided by `exp(ln_divisor)`.
struct GeometricTail {
    /// `sum r^k`.
    mass: f64,
    /// `sum k r^k`.
    first_moment: f64,
    /// `r^q` (the weight of the last state relative to the first).
    last: f64,
    /// `sum r^k`, `k = 1..q-1` (`mass - last`, summed apart).
    below_last: f64,
    /// Non-zero only when `r > 1` and `r^q` would overflow.
    ln_divisor: f64,
}

fn geometric_tail(r: f64, q: u32) -> GeometricTail {
    let tail = |mass, first_moment, last, below_last, ln_divisor| GeometricTail {
        mass,
        first_moment,
        last,
        below_last,
        ln_divisor,
    };
    if q == 0 {
        return tail(0.0, 0.0, 1.0, 0.0, 0.0);
    }
    let qf = f64::from(q);
    let ln_r = r.ln();
    let ln_last = qf * ln_r;
    if ln_last <= LN_TAIL_LIMIT {
        if (r - 1.0).abs() < NEAR_ONE && q <= MAX_LOOP_STATES {
            let (mut mass, mut first, mut term, mut below) = (0.0, 0.0, 1.0, 0.0);
            for k in 1..=q {
                below = mass;
                term *= r;
                mass += term;
                first += f64::from(k) * term;
            }
            return tail(mass, first, term, below, 0.0);
        }
        let last = ln_last.exp();
        // sum_{k=1}^q r^k = r (r^q - 1)/(r - 1); sum k r^k = r (1 - (q+1) r^q + q r^(q+1))/(1-r)^2
        let mass = r * ln_last.exp_m1() / ln_r.exp_m1();
        let one_minus = 1.0 - r;
        let first = r * (1.0 - (qf + 1.0) * last + qf * last * r) / (one_minus * one_minus);
        // sum_{k=1}^{q-1} r^k: `mass - last`, which keeps its digits unless r is large (then
        // mass is last to many digits and the closed form r (r^(q-1) - 1)/(r - 1) is needed).
        let below = if r < 2.0 {
            mass - last
        } else {
            r * ((qf - 1.0) * ln_r).exp_m1() / ln_r.exp_m1()
        };
        return tail(mass, first, last, below, 0.0);
    }
    // r > 1 and r^q is huge: divide everything by r^q. With s = 1/r < 1:
    // sum r^k / r^q = sum_{j=0}^{q-1} s^j; sum k r^k / r^q = sum_{j=0}^{q-1} (q-j) s^j.
    let s = 1.0 / r;
    let one_minus = 1.0 - s;
    let s_q = (qf * s.ln()).exp();
    let mass = (1.0 - s_q) / one_minus;
    let j_moment = s * (1.0 - qf * s_q / s + (qf - 1.0) * s_q) / (one_minus * one_minus);
    let first = qf * mass - j_moment;
    // sum_{j=1}^{q-1} s^j = s (1 - s^(q-1))/(1 - s)
    let below = s * (1.0 - s_q / s) / one_minus;
    tail(mass, first, 1.0, below, ln_last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(mu: &[f64], max_queue: u32, lambda: f64) -> ChainSolution {
        let n = mu.len();
        let k = n + max_queue as usize;
        let mut p = vec![1.0f64];
        for i in 0..k {
            let rate = if i < n { mu[i] } else { mu[n - 1] };
            let next = p[i] * lambda / rate;
            p.push(next);
        }
        let total: f64 = p.iter().sum();
        let p: Vec<f64> = p.iter().map(|x| x / total).collect();
        let l: f64 = p.iter().enumerate().map(|(i, x)| i as f64 * x).sum();
        let head: f64 = p[..=n].iter().sum();
        let serv: f64 = p[..=n]
            .iter()
            .enumerate()
            .map(|(i, x)| i as f64 * x)
            .sum::<f64>()
            + n as f64 * (1.0 - head);
        let x = lambda * (1.0 - p[k]);
        ChainSolution {
            arrival_per_ms: lambda,
            throughput_per_ms: x,
            mean_in_system: l,
            mean_in_service: serv,
            response_ms: l / x,
            service_ms: serv / x,
            wait_ms: (l / x - serv / x).max(0.0),
            blocking_probability: p[k],
            idle_probability: p[0],
            waiting_probability: p[n..k].iter().sum::<f64>() / (1.0 - p[k]),
        }
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
    }

    /// The batch distribution and the waiting probability against the brute-force chain.
    #[test]
    fn batch_distribution_and_waiting_match_brute_force() {
        let mu: Vec<f64> = (1..=40)
            .map(|n| f64::from(n) / (10.0 + f64::from(n)))
            .collect();
        for (q, lambda) in [
            (0u32, 0.5),
            (400, 1.5),
            (400, 0.95 * mu[39]),
            (50, 3.0 * mu[39]),
        ] {
            let n = mu.len();
            let k = n + q as usize;
            let mut p = vec![1.0f64];
            for i in 0..k {
                let rate = if i < n { mu[i] } else { mu[n - 1] };
                p.push(p[i] * lambda / rate);
            }
            let total: f64 = p.iter().sum();
            let p: Vec<f64> = p.iter().map(|x| x / total).collect();
            let dist = batch_distribution(&mu, q, lambda).unwrap();
            for b in 0..n {
                assert!(close(dist[b], p[b], 1e-9) || (dist[b] - p[b]).abs() < 1e-15);
            }
            assert!(close(dist[n], p[n..].iter().sum(), 1e-9));
            let fast = solve(&mu, q, lambda).unwrap();
            let wait: f64 = p[n..k].iter().sum::<f64>() / (1.0 - p[k]);
            assert!(
                close(fast.waiting_probability, wait, 1e-9)
                    || (fast.waiting_probability - wait).abs() < 1e-15,
                "{} vs {wait}",
                fast.waiting_probability
            );
        }
    }

    fn check(mu: &[f64], q: u32, lambda: f64) {
        let fast = solve(mu, q, lambda).unwrap();
        let slow = brute_force(mu, q, lambda);
        for (name, a, b) in [
            ("L", fast.mean_in_system, slow.mean_in_system),
            ("n_serv", fast.mean_in_service, slow.mean_in_service),
            ("X", fast.throughput_per_ms, slow.throughput_per_ms),
            ("pK", fast.blocking_probability, slow.blocking_probability),
            ("p0", fast.idle_probability, slow.idle_probability),
        ] {
            assert!(
                close(a, b, 1e-9) || (a - b).abs() < 1e-12,
                "{name}: {a} vs {b} (mu={mu:?}, q={q}, lambda={lambda})"
            );
        }
    }

    #[test]
    fn matches_brute_force_below_at_and_above_capacity() {
        let mu: Vec<f64> = (1..=8)
            .map(|n| n as f64 / (10.0 + 2.0 * n as f64))
            .collect();
        let top = mu[7];
        for factor in [0.01, 0.5, 0.9, 0.99995, 1.0, 1.00003, 1.2, 3.0] {
            for q in [0, 1, 5, 80] {
                check(&mu, q, top * factor);
            }
        }
    }

    #[test]
    fn mm1k_closed_form() {
        // Constant service rate: M/M/1/K. L = r/(1-r) - (K+1) r^(K+1)/(1-r^(K+1)).
        let (lambda, rate, k) = (0.8, 1.0, 10u32);
        let sol = solve(&[rate], k - 1, lambda).unwrap();
        let r: f64 = lambda / rate;
        let kf = f64::from(k);
        let expected = r / (1.0 - r) - (kf + 1.0) * r.powf(kf + 1.0) / (1.0 - r.powf(kf + 1.0));
        assert!(close(sol.mean_in_system, expected, 1e-12));
    }

    #[test]
    fn huge_states_do_not_overflow() {
        let mu: Vec<f64> = (1..=2000).map(|n| n as f64 * 1e-6).collect();
        let sol = solve(&mu, 20_000, 5.0).unwrap();
        assert!(sol.mean_in_system.is_finite());
        assert!(sol.blocking_probability > 0.99, "{sol:?}");
        let sol = solve(&mu, 20_000, 1e-9).unwrap();
        assert!(sol.mean_in_system < 1e-3);
    }

    proptest::proptest! {
        #[test]
        fn sweep_equals_one_solve_per_max_batch(
            rates in proptest::collection::vec(0.001f64..10.0, 1..30),
            factor in 0.0001f64..3.0,
        ) {
            let lambda = rates.last().unwrap() * factor;
            let mut seen = 0;
            sweep(&rates, |n| 3 * n, lambda, |n, sol| {
                let single = solve(&rates[..n], 3 * n as u32, lambda).unwrap();
                assert!(close(sol.mean_in_system, single.mean_in_system, 1e-12));
                assert!(close(sol.throughput_per_ms, single.throughput_per_ms, 1e-12));
                seen += 1;
                true
            }).unwrap();
            proptest::prop_assert_eq!(seen, rates.len());
        }

        #[test]
        fn agrees_with_brute_force(
            rates in proptest::collection::vec(0.001f64..10.0, 1..40),
            q in 0u32..300,
            factor in 0.0001f64..6.0,
        ) {
            let top = *rates.last().unwrap();
            check(&rates, q, top * factor);
        }
    }

    /// Arrivals that swamp service: the replica is almost always full and serves at its top
    /// rate (the open states' mass is summed apart, so it does not cancel to 0).
    #[test]
    fn swamped_replicas_serve_at_their_top_rate() {
        let mu: Vec<f64> = (1..=48)
            .map(|n| f64::from(n) / (12.0 + 0.05 * f64::from(n)))
            .collect();
        let top = mu[47];
        for q in [0u32, 1, 2, 480, 1_000_000] {
            for lambda in [1e20, 1e97, 1e200] {
                let s = solve(&mu, q, lambda).unwrap();
                assert!(
                    close(s.throughput_per_ms, top, 1e-6),
                    "q {q} lambda {lambda}: {s:?}"
                );
                for v in [s.response_ms, s.wait_ms, s.service_ms, s.mean_in_system] {
                    assert!(v.is_finite() && v >= 0.0, "q {q} lambda {lambda}: {s:?}");
                }
                assert!(close(s.mean_in_system, 48.0 + f64::from(q), 1e-6), "{s:?}");
            }
        }
        // And the same against the brute-force chain where it can still be summed.
        let b = brute_force(&mu, 2, 1e3);
        let s = solve(&mu, 2, 1e3).unwrap();
        assert!(
            close(s.throughput_per_ms, b.throughput_per_ms, 1e-9),
            "{s:?} {b:?}"
        );
    }

    #[test]
    fn degenerate_inputs_are_refused() {
        assert!(solve(&[], 3, 1.0).is_none());
        assert!(solve(&[1.0], 3, 0.0).is_none());
        assert!(solve(&[0.0], 3, 1.0).is_none());
        assert!(solve(&[1.0], 3, f64::NAN).is_none());
    }
}
