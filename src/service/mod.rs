//! Services as the rest of muxsim sees them: one [`ServiceDescriptor`] per service, held by a
//! [`Registry`].
//!
//! A descriptor says everything muxsim needs to test a service: how to build it from its
//! options, which options (limits) it declares, its [`Protocol`] (framing, greeting, limits,
//! deadlines: what the generator sends and what the oracle expects), and its [`Oracle`].
//! Built-in services register themselves exactly as a user's services do, and nothing below
//! the registry ever matches a service by name.
//!
//! ```
//! use muxsim::core::echo::Echo;
//! use muxsim::service::{Protocol, Registry, ServiceDescriptor};
//!
//! let mine = ServiceDescriptor::new("my-echo", |_options| Echo::default())
//!     .about("an echo service of my own")
//!     .protocol(Protocol::chunks().greeting(b"hello".to_vec()));
//! let registry = Registry::builtin().with(mine);
//! assert!(registry.get("my-echo").is_some());
//! assert!(registry.get("lines").is_some());
//! ```
//!
//! A user's crate builds its own `muxsim` command by handing its registry to
//! [`crate::cli::run`]: every subcommand then knows its services.

mod builtin;
#[doc(hidden)]
pub mod model;
#[doc(hidden)]
pub mod oracle;
#[doc(hidden)]
pub mod protocol;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::core::Service;
use crate::world::{ClientReport, Limit};

pub use model::{Deliveries, Model, ModelOracle};
pub use oracle::{
    AckModel, Context, EchoModel, Greeting, Oracle, Reply, RequestResponse, RunView, lines_model,
    prefix_check, was_idle_for,
};
pub use protocol::{DEFAULT_ALPHABET, Deadline, DeadlineKind, Framing, Next, Protocol};

/// A limit a service declares: set with `limit NAME VALUE` in transcripts and
/// `--limit NAME=VALUE` on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionSpec {
    /// The name.
    pub(crate) name: String,
    /// The value when nothing sets it.
    pub(crate) default: u64,
    /// What it means, for help texts.
    pub(crate) help: String,
}

impl OptionSpec {
    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value when nothing sets it.
    pub fn default(&self) -> u64 {
        self.default
    }

    /// What it means, for help texts.
    pub fn help(&self) -> &str {
        &self.help
    }
}

/// The values of a service's declared options for one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceOptions {
    values: BTreeMap<String, u64>,
}

/// An option the service does not declare.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("service `{service}` has no limit `{name}`{}", known_list(.known))]
pub struct UnknownOption {
    /// The service.
    pub(crate) service: String,
    /// The name asked for.
    pub(crate) name: String,
    /// The names it declares.
    pub(crate) known: Vec<String>,
}

impl UnknownOption {
    /// The service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The name asked for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names it declares.
    pub fn known(&self) -> &[String] {
        &self.known
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (it declares {})", known.join(", "))
    }
}

impl ServiceOptions {
    /// The value of option `name`.
    ///
    /// # Panics
    ///
    /// When the service does not declare `name`: a mistake in the service's descriptor,
    /// not something input can cause.
    pub fn get(&self, name: &str) -> u64 {
        match self.values.get(name) {
            Some(v) => *v,
            None => panic!(
                "option `{name}` is not declared by this service (declare it with ServiceDescriptor::option)"
            ),
        }
    }

    /// The value of option `name` as a size, saturating.
    pub fn usize(&self, name: &str) -> usize {
        usize::try_from(self.get(name)).unwrap_or(usize::MAX)
    }

    /// The value of option `name` as milliseconds, `None` when it is 0 ("never").
    pub fn millis(&self, name: &str) -> Option<Duration> {
        let ms = self.get(name);
        (ms > 0).then(|| Duration::from_millis(ms))
    }

    /// Whether the option is declared.
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Every option and its value, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.values.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

type Make = dyn Fn(&ServiceOptions) -> Box<dyn Service + Send> + Send + Sync;
type MakeProtocol = dyn Fn(&ServiceOptions) -> Protocol + Send + Sync;

/// Everything muxsim knows about one service. Cheap to clone.
#[derive(Clone)]
pub struct ServiceDescriptor {
    name: String,
    about: String,
    options: Vec<OptionSpec>,
    make: Arc<Make>,
    protocol: Arc<MakeProtocol>,
    oracle: Option<Arc<dyn Oracle>>,
    exhibit: bool,
}

impl fmt::Debug for ServiceDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceDescriptor")
            .field("name", &self.name)
            .field("options", &self.options)
            .field("oracle", &self.oracle.is_some())
            .finish_non_exhaustive()
    }
}

impl ServiceDescriptor {
    /// A service named `name`, built by `make` from its options. Add what else it has with
    /// the methods below; without a protocol it is an unframed chunk protocol, without an
    /// oracle only the checks every run passes judge it.
    pub fn new<S, F>(name: impl Into<String>, make: F) -> Self
    where
        S: Service + Send + 'static,
        F: Fn(&ServiceOptions) -> S + Send + Sync + 'static,
    {
        ServiceDescriptor {
            name: name.into(),
            about: String::new(),
            options: Vec::new(),
            make: Arc::new(move |options| Box::new(make(options))),
            protocol: Arc::new(|_| Protocol::chunks()),
            oracle: None,
            exhibit: false,
        }
    }

    /// A one-line description for `muxsim services`.
    pub fn about(mut self, text: impl Into<String>) -> Self {
        self.about = text.into();
        self
    }

    /// Declares an option (a limit of the service) with its default and meaning. Names that
    /// end in `-ms` are milliseconds. Transcripts set it with `limit NAME VALUE`, the command
    /// line with `--limit NAME=VALUE`, as they set the limits of the run.
    ///
    /// # Panics
    ///
    /// When `name` is already a limit of the run (`muxsim limits` lists them: `max-conns`,
    /// `idle-timeout-ms`, …), which `limit` lines would set instead of the option.
    pub fn option(
        mut self,
        name: impl Into<String>,
        default: u64,
        help: impl Into<String>,
    ) -> Self {
        let name = name.into();
        assert!(
            Limit::find(&name).is_none(),
            "service `{}`: option `{name}` is already a limit of the run; name it otherwise (limits of the run: {})",
            self.name,
            Limit::names()
        );
        self.options.retain(|o| o.name != name);
        self.options.push(OptionSpec {
            name,
            default,
            help: help.into(),
        });
        self
    }

    /// The protocol, the same whatever the options.
    pub fn protocol(self, protocol: Protocol) -> Self {
        self.protocol_with(move |_| protocol.clone())
    }

    /// The protocol, built from the options (a declared limit or deadline usually is one).
    pub fn protocol_with(
        mut self,
        protocol: impl Fn(&ServiceOptions) -> Protocol + Send + Sync + 'static,
    ) -> Self {
        self.protocol = Arc::new(protocol);
        self
    }

    /// The oracle that judges what each client received.
    pub fn oracle(mut self, oracle: impl Oracle + 'static) -> Self {
        self.oracle = Some(Arc::new(oracle));
        self
    }

    /// Marks the service as a deliberate bug exhibit, not a correct server.
    pub fn exhibit(mut self) -> Self {
        self.exhibit = true;
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The one-line description.
    pub fn description(&self) -> &str {
        &self.about
    }

    /// The declared options.
    pub fn options(&self) -> &[OptionSpec] {
        &self.options
    }

    /// Whether it is a deliberate bug exhibit.
    pub fn is_exhibit(&self) -> bool {
        self.exhibit
    }

    /// Whether it has an oracle.
    pub fn has_oracle(&self) -> bool {
        self.oracle.is_some()
    }

    /// Every declared option at its default.
    pub fn defaults(&self) -> ServiceOptions {
        ServiceOptions {
            values: self
                .options
                .iter()
                .map(|o| (o.name.clone(), o.default))
                .collect(),
        }
    }

    /// Sets option `name` in `options`, if the service declares it.
    pub fn set_option(
        &self,
        options: &mut ServiceOptions,
        name: &str,
        value: u64,
    ) -> Result<(), UnknownOption> {
        if !self.options.iter().any(|o| o.name == name) {
            return Err(UnknownOption {
                service: self.name.clone(),
                name: name.to_string(),
                known: self.options.iter().map(|o| o.name.clone()).collect(),
            });
        }
        options.values.insert(name.to_string(), value);
        Ok(())
    }

    /// A fresh service with these options.
    pub fn build(&self, options: &ServiceOptions) -> Box<dyn Service + Send> {
        (self.make)(options)
    }

    /// The protocol with these options.
    pub fn protocol_for(&self, options: &ServiceOptions) -> Protocol {
        (self.protocol)(options)
    }

    /// Judges one client with the service's oracle; `Ok` when it has none.
    pub fn judge(&self, options: &ServiceOptions, client: &ClientReport) -> Result<(), String> {
        self.with_oracle(options, |oracle, context| oracle.judge(client, context))
            .unwrap_or(Ok(()))
    }

    /// `f` with the oracle and its context for `options`; `None` when there is no oracle.
    fn with_oracle<R>(
        &self,
        options: &ServiceOptions,
        f: impl FnOnce(&dyn Oracle, &Context<'_>) -> R,
    ) -> Option<R> {
        let oracle = self.oracle.as_deref()?;
        let protocol = self.protocol_for(options);
        Some(f(
            oracle,
            &Context {
                protocol: &protocol,
                options,
            },
        ))
    }

    /// Judges every client of a run; the first that fails, with what is wrong. With no
    /// record of what the server saw (real sockets), an oracle that judges the whole run is
    /// given the clients' own connects, sends and closes in time order.
    pub fn judge_all<'a>(
        &self,
        options: &ServiceOptions,
        clients: impl IntoIterator<Item = &'a ClientReport>,
    ) -> Result<(), (String, String)> {
        let clients: Vec<ClientReport> = clients.into_iter().cloned().collect();
        let server = match &self.oracle {
            Some(oracle) if oracle.needs_server() => model::server_of_clients(&clients),
            _ => Vec::new(),
        };
        self.judge_run(
            options,
            &RunView {
                clients: &clients,
                server: &server,
                exact: false,
            },
        )
    }

    /// Judges a whole run with the service's oracle; `Ok` when it has none.
    pub fn judge_run(
        &self,
        options: &ServiceOptions,
        run: &RunView<'_>,
    ) -> Result<(), (String, String)> {
        self.with_oracle(options, |oracle, context| oracle.judge_run(run, context))
            .unwrap_or(Ok(()))
    }

    /// What one client caused for another in a simulated run, and how much of it arrived
    /// (see [`Oracle::deliveries`]).
    pub fn deliveries(
        &self,
        options: &ServiceOptions,
        run: &crate::world::Run,
    ) -> Option<(u64, u64)> {
        let run = RunView::of_run(run);
        self.with_oracle(options, |oracle, context| oracle.deliveries(&run, context))?
    }

    /// Whether the oracle judges the run with what the server saw (see
    /// [`Oracle::needs_server`]).
    pub fn needs_server(&self) -> bool {
        self.oracle.as_ref().is_some_and(|o| o.needs_server())
    }
}

/// The services a command knows.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    services: Vec<ServiceDescriptor>,
}

/// A service name the registry does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown service `{name}` (expected one of {known})")]
pub struct UnknownService {
    /// The name asked for.
    pub(crate) name: String,
    /// The names it knows, comma-separated.
    pub(crate) known: String,
}

impl UnknownService {
    /// The name asked for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The names it knows, comma-separated.
    pub fn known(&self) -> &str {
        &self.known
    }
}

impl Registry {
    /// A registry with no service.
    pub fn new() -> Self {
        Registry::default()
    }

    /// The built-in services: the seed's servers as cores, `lines`, and the bug exhibit.
    pub fn builtin() -> Self {
        let mut registry = Registry::new();
        for descriptor in builtin::all() {
            registry.services.push(descriptor);
        }
        registry
    }

    /// This registry with `descriptor` added; a service of the same name is replaced, so a
    /// crate can swap a built-in for its own.
    pub fn with(mut self, descriptor: ServiceDescriptor) -> Self {
        self.register(descriptor);
        self
    }

    /// Adds `descriptor`, replacing a service of the same name.
    pub fn register(&mut self, descriptor: ServiceDescriptor) {
        match self.services.iter_mut().find(|d| d.name == descriptor.name) {
            Some(existing) => *existing = descriptor,
            None => self.services.push(descriptor),
        }
    }

    /// The service named `name`.
    pub fn get(&self, name: &str) -> Option<&ServiceDescriptor> {
        self.services.iter().find(|d| d.name == name)
    }

    /// The service named `name`, or an error that lists the known ones.
    pub fn lookup(&self, name: &str) -> Result<&ServiceDescriptor, UnknownService> {
        self.get(name).ok_or_else(|| UnknownService {
            name: name.to_string(),
            known: self.names(),
        })
    }

    /// The services, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &ServiceDescriptor> {
        self.services.iter()
    }

    /// The names, comma-separated, for messages.
    pub fn names(&self) -> String {
        self.services
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
