//! The live training run: its state and controls (pause, resume, stop), the [`Observer`] that
//! streams it to the page, and starting one from the page with `nndl train`'s own flags.

use super::App;
use super::api::{self, ApiError, ApiResult};
use super::models::{self, Model};
use crate::cli::train::{self as cli_train, Outcome, Prepared, TrainArgs};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use nndl::network::Network;
use nndl::train::{EpochMetrics, Observer};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Idle,
    Preparing,
    Running,
    Paused,
    Stopping,
    Finished,
    Failed,
}

struct Status {
    run: u64,
    state: RunState,
    args: Vec<String>,
    epoch: usize,
    epochs: usize,
    error: Option<String>,
    /// The last finished run's model file (in the server's scratch folder) and its name.
    model: Option<(PathBuf, String)>,
}

/// The one run a server shows at a time.
pub struct Trainer {
    status: Mutex<Status>,
    /// Wakes a paused run.
    wake: Condvar,
}

impl Trainer {
    pub fn new() -> Self {
        let status = Status {
            run: 0,
            state: RunState::Idle,
            args: Vec::new(),
            epoch: 0,
            epochs: 0,
            error: None,
            model: None,
        };
        Trainer { status: Mutex::new(status), wake: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `GET /api/train` answers.
    pub fn status_json(&self) -> Value {
        let s = self.lock();
        json!({
            "run": s.run,
            "state": s.state,
            "args": s.args,
            "epoch": s.epoch,
            "epochs": s.epochs,
            "model_ready": s.model.is_some(),
            "model": s.model.as_ref().map(|(_, name)| name),
            "error": s.error,
        })
    }

    /// A new run, numbered, if none is under way (409).
    pub fn begin(&self, args: Vec<String>) -> ApiResult<u64> {
        let mut s = self.lock();
        if matches!(s.state, RunState::Preparing | RunState::Running | RunState::Paused | RunState::Stopping)
        {
            return Err(ApiError::conflict(
                format!("run {} is {:?}; stop it first", s.run, s.state).to_lowercase(),
            ));
        }
        s.run += 1;
        (s.state, s.args, s.epoch, s.epochs, s.error) = (RunState::Preparing, args, 0, 0, None);
        Ok(s.run)
    }

    fn fail(&self, error: String) {
        let mut s = self.lock();
        (s.state, s.error) = (RunState::Failed, Some(error));
    }

    /// Blocks while the run is paused (and not stopped, nor interrupted).
    fn wait_while_paused(&self) {
        let mut s = self.lock();
        while s.state == RunState::Paused && !nndl::interrupt::requested() {
            s = self.wake.wait_timeout(s, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Pause, resume or stop; 409 when the run is not in a state to.
    fn control(&self, action: &str) -> ApiResult<(u64, &'static str)> {
        let mut s = self.lock();
        let (from, to, event): (&[RunState], RunState, &'static str) = match action {
            "pause" => (&[RunState::Running], RunState::Paused, "paused"),
            "resume" => (&[RunState::Paused], RunState::Running, "resumed"),
            "stop" => (&[RunState::Running, RunState::Paused], RunState::Stopping, "stopping"),
            other => {
                return Err(ApiError::not_found(format!(
                    "no action '{}' for a run; use pause, resume or stop",
                    nndl::shorten(other, 40)
                )));
            }
        };
        if !from.contains(&s.state) {
            let state = format!("{:?}", s.state).to_lowercase();
            return Err(ApiError::conflict(format!("cannot {action} run {}: it is {state}", s.run)));
        }
        s.state = to;
        self.wake.notify_all();
        Ok((s.run, event))
    }
}

/// Streams a run to the page: progress within an epoch (at most every 100 ms), each epoch's
/// figures, the first weighted layer's weights (at most once a second), and holds the run
/// while it is paused.
pub struct Streamer {
    app: Arc<App>,
    run: u64,
    epochs: usize,
    epoch: usize,
    batches: usize,
    input: nndl::layers::Shape,
    last_progress: Instant,
    last_weights: Option<Instant>,
}

impl Streamer {
    pub fn new(app: Arc<App>, run: u64, prepared: &Prepared) -> Self {
        Streamer {
            app,
            run,
            epochs: prepared.cfg.epochs,
            epoch: 0,
            batches: 0,
            input: prepared.input.shape,
            last_progress: Instant::now(),
            last_weights: None,
        }
    }

    fn publish(&self, kind: &'static str, mut data: Value) {
        data["run"] = json!(self.run);
        self.app.hub.publish(kind, &data);
    }

    fn progress(&mut self, done: usize) {
        self.last_progress = Instant::now();
        self.publish("progress", json!({ "epoch": self.epoch, "done": done, "batches": self.batches }));
    }
}

impl Observer for Streamer {
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        (self.epoch, self.batches) = (epoch, batches);
        self.progress(0);
    }

    fn batches_done(&mut self, done: usize) {
        if done == self.batches || self.last_progress.elapsed() >= Duration::from_millis(100) {
            self.progress(done);
        }
        self.app.trainer.wait_while_paused();
    }

    fn epoch_end(&mut self, metrics: &EpochMetrics, net: &Network) {
        self.app.trainer.lock().epoch = metrics.epoch;
        // Through text, so that η (an f32) reads as the metrics file writes it (0.1, not the
        // f64 it widens to).
        let figures = serde_json::to_string(metrics).ok().and_then(|t| serde_json::from_str(&t).ok());
        self.publish("epoch", figures.unwrap_or_else(|| json!({})));
        let due = self.last_weights.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if (due || metrics.epoch == self.epochs)
            && let Some(layer) = models::first_weighted(net)
            && let Ok(mut weights) = models::weights(net, self.input, layer, None)
        {
            self.last_weights = Some(Instant::now());
            weights["epoch"] = json!(metrics.epoch);
            self.publish("weights", weights);
        }
    }

    fn gradients_before(&mut self, norms: &[f64]) {
        self.publish("gradients_before", json!({ "gradient_norms": norms }));
    }

    fn stop_requested(&self) -> bool {
        self.app.trainer.lock().state == RunState::Stopping
    }
}

/// Two observers as one (the terminal's and the page's).
pub struct Both<'a>(pub &'a mut dyn Observer, pub &'a mut dyn Observer);

impl Observer for Both<'_> {
    fn epoch_start(&mut self, epoch: usize, batches: usize) {
        self.0.epoch_start(epoch, batches);
        self.1.epoch_start(epoch, batches);
    }
    fn batches_done(&mut self, done: usize) {
        self.0.batches_done(done);
        self.1.batches_done(done);
    }
    fn epoch_end(&mut self, metrics: &EpochMetrics, net: &Network) {
        self.0.epoch_end(metrics, net);
        self.1.epoch_end(metrics, net);
    }
    fn gradients_before(&mut self, norms: &[f64]) {
        self.0.gradients_before(norms);
        self.1.gradients_before(norms);
    }
    fn stop_requested(&self) -> bool {
        self.0.stop_requested() || self.1.stop_requested()
    }
}

/// Says the run has started: its settings and network, for the page to lay out its charts.
pub fn announce(app: &App, run: u64, args: &[String], p: &Prepared) {
    let specs = p.net.specs();
    let m = p.cfg.batch_size.min(p.training.len()).max(1);
    let per_epoch = p.cfg.epoch_examples.map_or(p.training.len(), |k| k.min(p.training.len()));
    let mon = p.cfg.monitor;
    {
        let mut s = app.trainer.lock();
        (s.state, s.epochs) = (RunState::Running, p.cfg.epochs);
    }
    app.hub.publish(
        "started",
        &json!({
            "run": run,
            "args": args,
            "arch": models::describe(&specs, p.input.shape),
            "layers": models::layers(&specs, p.input.shape),
            "input": models::shape(p.input.shape),
            "classes": p.input.classes,
            "epochs": p.cfg.epochs,
            "batches": per_epoch.div_ceil(m),
            "batch_size": m,
            "train_size": p.training.len(),
            "validation_size": p.validation.len(),
            "test_size": p.test.len(),
            "seed": p.seed,
            "monitor": {
                "training_cost": mon.training_cost,
                "training_accuracy": mon.training_accuracy,
                "evaluation_cost": mon.evaluation_cost,
                "evaluation_accuracy": mon.evaluation_accuracy,
            },
            "track_gradients": p.cfg.track_gradients.is_some(),
        }),
    );
}

/// Ends a run: its model saved in the scratch folder (to download) and added to the models,
/// or its error; either way an event says so.
pub fn conclude(app: &App, run: u64, result: &anyhow::Result<Outcome>) {
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            let error = format!("{e:#}");
            app.trainer.fail(error.clone());
            app.hub.publish("error", &json!({ "run": run, "error": error }));
            return;
        }
    };
    let name = format!("run-{run}");
    let kept = app.scratch_dir().map(|dir| dir.join(format!("{name}.safetensors"))).and_then(|path| {
        nndl::model_io::save(&outcome.net, Some(&outcome.input), outcome.record.clone(), &path)
            .map_err(|e| e.to_string())?;
        let model = Model::load(&path, name.clone()).map_err(|e| format!("{e:#}"))?;
        Ok((path, model))
    });
    let (path, model) = match kept {
        Ok(kept) => kept,
        Err(e) => {
            let error = format!("the model could not be kept for the page: {e}");
            app.trainer.fail(error.clone());
            app.hub.publish("error", &json!({ "run": run, "error": error }));
            return;
        }
    };
    app.add_model(model);
    {
        let mut s = app.trainer.lock();
        (s.state, s.model) = (RunState::Finished, Some((path, name.clone())));
    }
    app.hub.publish(
        "finished",
        &json!({
            "run": run,
            "epochs_run": outcome.report.epochs.len(),
            "stopped_early": outcome.report.stopped_early,
            "test_accuracy": outcome.test.accuracy(),
            "test_cost": outcome.test.cost,
            "model_ready": true,
            "model": name,
        }),
    );
}

/// `nndl train`'s flags, parsed as on the command line.
#[derive(clap::Parser)]
#[command(name = "nndl train", no_binary_name = true, disable_help_flag = true, disable_version_flag = true)]
struct PageTrain {
    #[command(flatten)]
    args: TrainArgs,
}

/// The flags of a run started from the page, parsed and checked as the CLI's are; the files a
/// run would write and a nested `--serve` are refused.
fn page_args(args: &[String], data: Option<&std::path::Path>) -> ApiResult<TrainArgs> {
    let mut argv: Vec<String> = args.to_vec();
    let has_data = args.iter().any(|a| a == "--data" || a.starts_with("--data="));
    if let (false, Some(dir)) = (has_data, data) {
        argv.extend(["--data".to_string(), dir.display().to_string()]);
    }
    let parsed = <PageTrain as clap::Parser>::try_parse_from(argv).map_err(|e| {
        let text = e.render().to_string();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("error: bad flags");
        ApiError::bad(first.trim().trim_start_matches("error: ").to_string())
    })?;
    let args = parsed.args;
    if let Some(flag) = args.output_flags().first() {
        return Err(ApiError::bad(format!(
            "{flag}: a run started from the page writes no files; download the model when it is done"
        )));
    }
    if args.serve.serve {
        return Err(ApiError::bad("--serve: the run is already shown on this page"));
    }
    Ok(args)
}

/// `{"args": [...]}`
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    args: Vec<String>,
}

/// `POST /api/train`: answers once the flags are checked, the data loaded and the network
/// built (400 if any of that fails); training then goes on in its own thread.
pub async fn start(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if !app.page_runs {
        return Err(ApiError::conflict(
            "this server shows the run of `nndl train --serve`; start runs from `nndl serve`",
        ));
    }
    if api::body_kind(&headers)? != api::BodyKind::Json {
        return Err(ApiError::bad("send the flags as JSON: {\"args\": [\"--epochs\", \"3\"]}"));
    }
    let request: StartRequest = api::parse_json(&api::read_body(&headers, body).await?)?;
    let args = page_args(&request.args, app.data.as_deref())?;
    let run = app.trainer.begin(request.args.clone())?;
    app.hub.clear();
    crate::cli::say!("run {run}, from the page: nndl train {}", request.args.join(" "));
    let prepared = {
        let app = app.clone();
        api::blocking(move || cli_train::prepare(args).map_err(|e| ApiError::bad(format!("{e:#}"))))
            .await
            .inspect_err(|e| {
                app.trainer.fail(e.message.clone());
                app.hub.publish("error", &json!({ "run": run, "error": e.message }));
            })?
    };
    announce(&app, run, &request.args, &prepared);
    let thread_app = app.clone();
    let spawned = std::thread::Builder::new().name(format!("nndl-run-{run}")).spawn(move || {
        let mut streamer = Streamer::new(thread_app.clone(), run, &prepared);
        // The server's terminal shows the run as `nndl train` would (without the bar).
        let mut printer = crate::cli::progress::EpochPrinter::new(prepared.cfg.epochs, false);
        let result = cli_train::execute(prepared, &mut Both(&mut printer, &mut streamer));
        conclude(&thread_app, run, &result);
    });
    if let Err(e) = spawned {
        app.trainer.fail(e.to_string());
        return Err(ApiError::internal(format!("cannot start the training thread: {e}")));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "run": run, "state": "running" }))).into_response())
}

/// `GET /api/train`
pub async fn status(State(app): State<Arc<App>>) -> Json<Value> {
    Json(app.trainer.status_json())
}

/// `POST /api/train/{pause|resume|stop}`
pub async fn control(State(app): State<Arc<App>>, Path(action): Path<String>) -> ApiResult<Json<Value>> {
    let (run, event) = app.trainer.control(&action)?;
    app.hub.publish(event, &json!({ "run": run }));
    Ok(Json(app.trainer.status_json()))
}

/// `GET /api/train/model`: the last finished run's model file.
pub async fn download(State(app): State<Arc<App>>) -> ApiResult<Response> {
    let Some((path, name)) = app.trainer.lock().model.clone() else {
        return Err(ApiError::not_found(
            "no run has finished yet; the model is ready when the `finished` event comes",
        ));
    };
    let bytes = api::blocking(move || {
        nndl::files::read_input(&path, u64::MAX, "a model").map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    let disposition = format!("attachment; filename=\"{name}.safetensors\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
