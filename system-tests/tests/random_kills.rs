//! SIGKILL at random moments while several workers run multi-call
//! invocations, for many rounds. Callers retry every unanswered invocation
//! with its idempotency key after the restart. At the end every invocation
//! has taken effect exactly once: each worker's in-memory count equals the
//! todos it was asked to add, and the server holds each todo exactly once,
//! in order. The seed is printed; `REPRISE_SEED=N` replays a run.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Api, Scene};
use reprise_system_tests::spawn_todo_server;

const WORKERS: usize = 3;
const ROUNDS: usize = 20;
const INVOCATIONS_PER_ROUND: usize = 12;

/// xorshift64*: small, seedable, good enough to pick delays and counts.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One invocation a caller wants done exactly once.
#[derive(Clone, Debug)]
struct Planned {
    key: String,
    prefix: String,
    count: u32,
}

/// Invokes `add-todos` for `plan`; `Ok(None)` when the executor died before
/// answering.
async fn run(api: &Api, worker: &str, plan: &Planned) -> Option<String> {
    let params = [
        format!("\"{worker}\""),
        format!("\"{}\"", plan.prefix),
        plan.count.to_string(),
    ];
    let params: Vec<&str> = params.iter().map(String::as_str).collect();
    match api
        .try_invoke(worker, "add-todos", &params, Some(&plan.key))
        .await
    {
        Ok((200, body)) => {
            let result = body["result"][0].as_str().unwrap_or_default().to_owned();
            Some(result)
        }
        Ok((status, body)) => panic!("{worker} {plan:?}: {status} {body}"),
        Err(_) => None,
    }
}

fn check_result(worker: &str, plan: &Planned, result: &str) {
    assert!(
        result.starts_with("ok([") && result.matches(", ").count() + 1 == plan.count as usize,
        "{worker} {plan:?}: {result}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kills_lose_and_duplicate_nothing() {
    let seed = std::env::var("REPRISE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    eprintln!("random_kills seed: REPRISE_SEED={seed}");
    let mut rng = Rng(seed);

    let server = spawn_todo_server().await.expect("todo server");
    let mut scene = Scene::new();
    scene.start();
    let component = scene.add_todo_component(&server.endpoint());
    let names: Vec<String> = (0..WORKERS).map(|i| format!("w{i}")).collect();
    for name in &names {
        scene.create_worker(&component, name);
    }
    // Per worker: every planned invocation, in order, and the one (at most)
    // left unanswered by the last kill.
    let mut done: Vec<Vec<Planned>> = vec![Vec::new(); WORKERS];
    let mut unanswered: Vec<Option<Planned>> = vec![None; WORKERS];
    let mut kills_mid_invocation = 0;

    for round in 0..ROUNDS {
        if round > 0 {
            scene.start();
        }
        let api = Api::new(scene.url());
        // Callers retry what the last crash left unanswered, same key.
        for (i, name) in names.iter().enumerate() {
            if let Some(plan) = unanswered[i].take() {
                let result = run(&api, name, &plan)
                    .await
                    .unwrap_or_else(|| panic!("seed {seed}: retry of {plan:?} unanswered"));
                check_result(name, &plan, &result);
                done[i].push(plan);
            }
        }
        let mut tasks = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let plans: Vec<Planned> = (0..INVOCATIONS_PER_ROUND)
                .map(|j| Planned {
                    key: format!("{name}-r{round}-{j}"),
                    prefix: format!("r{round}.{j}"),
                    count: 1 + rng.below(3) as u32,
                })
                .collect();
            let api = api.clone();
            let name = name.clone();
            tasks.push((
                i,
                tokio::spawn(async move {
                    let mut answered = Vec::new();
                    for plan in plans {
                        match run(&api, &name, &plan).await {
                            Some(result) => {
                                check_result(&name, &plan, &result);
                                answered.push(plan);
                            }
                            None => return (answered, Some(plan)),
                        }
                    }
                    (answered, None)
                }),
            ));
        }
        tokio::time::sleep(Duration::from_millis(rng.below(60))).await;
        scene.kill9();
        for (i, task) in tasks {
            let (answered, cut) = tokio::time::timeout(common::LIMIT, task)
                .await
                .expect("callers notice the kill")
                .expect("caller task");
            done[i].extend(answered);
            if cut.is_some() {
                kills_mid_invocation += 1;
            }
            unanswered[i] = cut;
        }
    }

    scene.start();
    let api = Api::new(scene.url());
    for (i, name) in names.iter().enumerate() {
        if let Some(plan) = unanswered[i].take() {
            let result = run(&api, name, &plan).await.expect("final retry answered");
            check_result(name, &plan, &result);
            done[i].push(plan);
        }
    }
    let mut total = 0u64;
    for (i, name) in names.iter().enumerate() {
        let expected: Vec<String> = done[i]
            .iter()
            .flat_map(|p| (0..p.count).map(move |k| format!("\"{} {k}\"", p.prefix)))
            .collect();
        total += expected.len() as u64;
        let added = api.call(name, "added", &[], None).await;
        assert_eq!(
            added,
            expected.len().to_string(),
            "seed {seed}: {name} counted each todo once"
        );
        let listed = api
            .call(name, "list-todos", &[&format!("\"{name}\"")], None)
            .await;
        assert_eq!(
            listed,
            format!("ok([{}])", expected.join(", ")),
            "seed {seed}: the server holds each todo of {name} once, in order"
        );
    }
    let keys = server.idempotency_keys("TodoAdd");
    let distinct: HashSet<&String> = keys.iter().collect();
    assert_eq!(
        distinct.len() as u64,
        total,
        "seed {seed}: one call key per todo"
    );
    eprintln!(
        "random_kills: {ROUNDS} rounds, {total} todos, {} TodoAdd calls, {kills_mid_invocation} invocations cut by a kill",
        keys.len()
    );
    assert_eq!(scene.terminate().code(), Some(0));
}
