//! `nndl serve` and `nndl train --serve`: a local web page (compiled in) and the JSON API it
//! uses (docs/serve-api.md), on axum.
//!
//! - [`api`]: the JSON error, capped bodies, the guards against other sites.
//! - [`models`]: the loaded models and their weights.
//! - [`predict`]: a drawing through the models, every layer's z and a.
//! - [`testset`]: the confusion matrix and the test examples.
//! - [`training`]: the live run, its controls, and runs started from the page.
//! - [`events`]: the run's server-sent events, replayed to late pages.

mod api;
mod events;
mod models;
mod predict;
mod testset;
mod training;

use crate::cli::say;
use anyhow::{Context, bail};
use api::{ApiError, ApiResult};
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use models::Model;
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Where the server listens: `nndl serve`'s and `nndl train --serve`'s flags.
#[derive(clap::Args, Clone, Debug)]
pub struct Listen {
    /// The port to listen on (0: any free port; the address is printed)
    #[arg(long, default_value_t = 8080, help_heading = "Serving")]
    pub port: u16,
    /// The address to listen on. The default serves this machine only; another address serves
    /// the network, with no password (a warning says so)
    #[arg(long, default_value = "127.0.0.1", help_heading = "Serving")]
    pub host: String,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
  nndl serve mlp.safetensors conv.safetensors      # open http://127.0.0.1:8080/ and draw a digit\n  \
  nndl serve --port 0                              # any free port; train from the page\n  \
  curl -s localhost:8080/api/models\n  \
  curl -s -H 'Content-Type: image/png' --data-binary @digit.png localhost:8080/api/predict\n\n\
The API (predict, the layers' activations, weights, the test set, training and its live events) is \
described in the README and docs/serve-api.md. Ctrl-C stops the server.")]
pub struct ServeArgs {
    /// Models saved by `nndl train --save`, shown side by side (none: train one from the page)
    models: Vec<PathBuf>,
    #[command(flatten)]
    listen: Listen,
    /// The data for the test set browser and for runs started from the page: MNIST's IDX folder
    /// by default ($NNDL_DATA, else the user cache folder) [default for models trained on an
    /// image folder or CSV file: the path recorded in the model]
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
}

/// `nndl train --serve`'s flags.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TrainServeArgs {
    /// Also show the run live on a local web page (the address is printed): curves, gradient
    /// norms, the first layer's weights; pause, stop, download. The run goes on if the page is
    /// closed
    #[arg(long, help_heading = "Serving")]
    pub serve: bool,
    /// With --serve: the port (0: any free port)
    #[arg(long, default_value_t = 8080, requires = "serve", help_heading = "Serving")]
    pub port: u16,
    /// With --serve: the address to listen on (see `nndl serve --help`)
    #[arg(long, default_value = "127.0.0.1", requires = "serve", help_heading = "Serving")]
    pub host: String,
    /// With --serve: keep serving the page after the run ends, until Ctrl-C
    #[arg(long, requires = "serve", help_heading = "Serving")]
    pub keep_serving: bool,
}

/// What every request handler shares.
pub struct App {
    models: RwLock<Vec<Arc<Model>>>,
    /// `--data`, for the test sets and runs from the page.
    pub data: Option<PathBuf>,
    pub hub: events::Hub,
    pub trainer: training::Trainer,
    /// Where finished runs' models are kept to download; removed when the server stops.
    scratch: Mutex<Option<tempfile::TempDir>>,
    /// Bound to a loopback address: only loopback `Host`s are answered.
    pub loopback: bool,
    pub port: u16,
    /// Whether runs can be started from the page (`nndl serve`, not `train --serve`).
    pub page_runs: bool,
    /// Set when the server stops (ends the event streams).
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl App {
    pub fn models(&self) -> Vec<Arc<Model>> {
        self.models.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The model named `name`, or the first one; 404 if none.
    pub fn model(&self, name: Option<&str>) -> ApiResult<Arc<Model>> {
        let models = self.models();
        match name {
            None => models.first().cloned().ok_or_else(|| ApiError::not_found("no model is loaded")),
            Some(name) => models.iter().find(|m| m.name == name).cloned().ok_or_else(|| {
                let known: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
                ApiError::not_found(format!(
                    "no model '{}'; the models are: {}",
                    nndl::shorten(name, 60),
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ))
            }),
        }
    }

    /// Adds a model (a finished run's), replacing one of the same name.
    pub fn add_model(&self, model: Model) {
        let mut models = self.models.write().unwrap_or_else(|e| e.into_inner());
        models.retain(|m| m.name != model.name);
        models.push(Arc::new(model));
    }

    /// The scratch folder, unless the server is stopping.
    pub fn scratch_dir(&self) -> Result<PathBuf, String> {
        let scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        scratch.as_ref().map(|d| d.path().to_path_buf()).ok_or_else(|| "the server is stopping".to_string())
    }
}

/// `?key=N`: absent, or a number (400 otherwise).
pub fn query_number(query: &HashMap<String, String>, key: &str) -> ApiResult<Option<usize>> {
    match query.get(key) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            ApiError::bad(format!("?{key}={}: give a whole number from 0", nndl::shorten(v, 40)))
        }),
    }
}

const INDEX_HTML: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const STYLE_CSS: &str = include_str!("web/style.css");

/// The page's own files only; images from the page itself (data: and blob: URLs).
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        body,
    )
        .into_response()
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/index.html", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/api/models", get(models::list))
        .route("/api/models/{model}/weights", get(models::weights_route))
        .route("/api/predict", post(predict::route))
        .route("/api/testset", get(testset::summary))
        .route("/api/testset/confusion", get(testset::confusion))
        .route("/api/testset/examples", get(testset::examples))
        .route("/api/testset/{index}", get(testset::example))
        .route("/api/train", get(training::status).post(training::start))
        .route("/api/train/model", get(training::download))
        .route("/api/train/{action}", post(training::control))
        .route("/api/events", get(events::route))
        .fallback(api::not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(api::panicked))
        .layer(axum::middleware::from_fn_with_state(app.clone(), api::guard))
        .with_state(app)
}

/// A server running on its own threads.
struct Server {
    app: Arc<App>,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    /// Binds `listen` and serves `models`; prints the address once it accepts connections.
    fn start(
        listen: &Listen,
        models: Vec<Model>,
        data: Option<PathBuf>,
        page_runs: bool,
    ) -> anyhow::Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // CPU work (forward passes, evaluations) runs on these: a few more than the cores
            // keep them busy; more would only hold more memory.
            .max_blocking_threads(8)
            .thread_name("nndl-serve")
            .enable_all()
            .build()
            .context("cannot start the server's threads")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind((listen.host.as_str(), listen.port)))
            .with_context(|| {
            format!("--host {} --port {}: cannot listen there", listen.host, listen.port)
        })?;
        let addr: SocketAddr = listener.local_addr().context("--port")?;
        let loopback = addr.ip().is_loopback();
        if !loopback {
            eprintln!(
                "warning: --host {}: the page and its API are open to other machines, without a password",
                listen.host
            );
        }
        let scratch = tempfile::Builder::new()
            .prefix("nndl-serve-")
            .tempdir()
            .context("cannot make a scratch folder")?;
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let app = Arc::new(App {
            models: RwLock::new(models.into_iter().map(Arc::new).collect()),
            data,
            hub: events::Hub::new(events::buffer_size()),
            trainer: training::Trainer::new(),
            scratch: Mutex::new(Some(scratch)),
            loopback,
            port: addr.port(),
            page_runs,
            shutdown,
        });
        let mut stopped = app.shutdown.subscribe();
        let service = axum::serve(listener, router(app.clone())).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|&down| down).await;
        });
        runtime.spawn(async move {
            if let Err(e) = service.await {
                eprintln!("error: the server stopped: {e}");
            }
        });
        let shown = if addr.ip().is_unspecified() {
            SocketAddr::new([127, 0, 0, 1].into(), addr.port())
        } else {
            addr
        };
        say!("listening on http://{shown}/");
        let _ = std::io::stdout().flush();
        Ok(Server { app, runtime })
    }

    /// Until Ctrl-C.
    fn wait_for_interrupt(&self) {
        while !nndl::interrupt::requested() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ends the event streams, stops serving, removes the scratch folder.
    fn stop(self) {
        let _ = self.app.shutdown.send(true);
        self.runtime.shutdown_timeout(Duration::from_secs(2));
        let scratch = self.app.scratch.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(scratch);
    }
}

/// Loads the models named on the command line, each named by its file's stem (made unique).
fn load_models(paths: &[PathBuf]) -> anyhow::Result<Vec<Model>> {
    let mut models: Vec<Model> = Vec::new();
    for path in paths {
        let stem = path.file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
        let stem: String =
            stem.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect();
        let mut name = stem.clone();
        let mut n = 2;
        while models.iter().any(|m| m.name == name) {
            name = format!("{stem}-{n}");
            n += 1;
        }
        let model = Model::load(path, name)?;
        if !model.reads_images() {
            eprintln!(
                "note: {}: reads table rows; the page draws digits, so it is listed but not predicted",
                path.display()
            );
        }
        models.push(model);
    }
    Ok(models)
}

/// `nndl serve`
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let models = load_models(&args.models)?;
    if let Some(data) = &args.data
        && !data.exists()
    {
        bail!("--data {}: no such file or folder", data.display());
    }
    let server = Server::start(&args.listen, models, args.data.clone(), true)?;
    say!("press Ctrl-C to stop");
    server.wait_for_interrupt();
    server.stop();
    say!("stopped");
    Ok(())
}

/// `nndl train ... --serve`: the ordinary run, also streamed to the page.
pub fn train_serving(args: crate::cli::train::TrainArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let flags = args.serve.clone();
    let shown_args: Vec<String> = std::env::args().skip(2).collect();
    let prepared = crate::cli::train::prepare(args)?;
    let listen = Listen { port: flags.port, host: flags.host.clone() };
    let server = Server::start(&listen, Vec::new(), prepared.args.data.data.clone(), false)?;
    let app = server.app.clone();
    let run = app.trainer.begin(shown_args.clone()).map_err(|e| anyhow::anyhow!(e.message))?;
    training::announce(&app, run, &shown_args, &prepared);
    let show_bar = !prepared.args.quiet && std::io::stderr().is_terminal();
    let mut printer = crate::cli::progress::EpochPrinter::new(prepared.cfg.epochs, show_bar);
    let mut streamer = training::Streamer::new(app.clone(), run, &prepared);
    let result = crate::cli::train::execute(prepared, &mut training::Both(&mut printer, &mut streamer));
    training::conclude(&app, run, &result);
    if flags.keep_serving && !nndl::interrupt::requested() {
        say!("the run is over; the page is still served; press Ctrl-C to stop");
        server.wait_for_interrupt();
    } else {
        // The last events reach the open pages.
        std::thread::sleep(Duration::from_millis(300));
    }
    server.stop();
    result.map(drop)
}
