//! `ssinet-lab up|status|down|exec|partition|restore`: persistent namespace clusters from the
//! shell. A lab made by `up` stays until `down`; it is recorded under `/run/ssinet-lab/<name>/`.
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use ssinet_lab::cluster::{Binaries, agents};
use ssinet_testbed::netns::{Lab, LabSpec, LabStatus, Routing, Segment, addressing, records};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

/// The lab name used when `--name`/`--lab` is not given.
const DEFAULT_LAB: &str = "ssinet";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a namespace cluster that stays until `ssinet-lab down`, with one ssinetd per node.
    Up(UpArgs),
    /// List the labs, their namespaces and whether their links are healthy.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Remove a lab (default: the one named `ssinet`) and everything it made.
    Down {
        /// The lab to remove.
        name: Option<String>,
        /// Remove every lab, and namespaces left behind by killed test runs.
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
    /// Run a command inside a lab namespace (through `ip netns exec`).
    Exec {
        /// A node number, `client`, `gateway` or `switch`.
        target: String,
        #[command(flatten)]
        lab: LabArg,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Cut a node's links (detach its switch ports from the bridges).
    Partition(PortArgs),
    /// Reconnect a node's links.
    Restore(PortArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u8,
    /// Director-capable nodes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    directors: Vec<u8>,
    /// LVS forwarding written into cvip.conf.
    #[arg(long, value_enum, default_value_t = RoutingArg::Dr)]
    routing: RoutingArg,
    /// The lab's name (namespaces are named `ssl-<name>-...`).
    #[arg(long, default_value = DEFAULT_LAB)]
    name: String,
    /// Only the namespaces and files: start no ssinetd.
    #[arg(long)]
    no_agents: bool,
}

#[derive(Debug, Args)]
pub struct LabArg {
    /// The lab (default: the only one, or `ssinet`).
    #[arg(long = "lab")]
    name: Option<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// The node number.
    node: u8,
    #[command(flatten)]
    lab: LabArg,
    /// Only this link (default: both).
    #[arg(long, value_enum)]
    segment: Option<SegmentArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoutingArg {
    Dr,
    Nat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SegmentArg {
    Interconnect,
    External,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Up(args) => up(args),
        Command::Status { json } => status(json),
        Command::Down { name, all } => down(name, all),
        Command::Exec {
            target,
            lab,
            command,
        } => exec(&target, lab, &command),
        Command::Partition(args) => ports(args, true),
        Command::Restore(args) => ports(args, false),
    }
}

fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let spec = LabSpec {
        nodes: args.nodes,
        directors: args.directors,
        routing: match args.routing {
            RoutingArg::Dr => Routing::Dr,
            RoutingArg::Nat => Routing::Nat,
        },
        ..LabSpec::default()
    };
    let lab = Lab::up_persistent(&args.name, spec)
        .with_context(|| format!("cannot build lab {:?}", args.name))?;
    emit(&topology(&args.name, &lab))?;
    let checked = check_config(&lab)?;
    if args.no_agents || checked != ExitCode::SUCCESS {
        return Ok(checked);
    }
    start_agents(&args.name, &lab)
}

/// Starts an ssinetd per node (beside this program), waits for a director and shows
/// `cvipctl status` as node 1 sees it.
fn start_agents(name: &str, lab: &Lab) -> anyhow::Result<ExitCode> {
    let binaries = Binaries::beside_current_exe()
        .context("ssinetd and cvipctl must be beside ssinet-lab (cargo build --workspace --bins), or use --no-agents")?;
    agents::start(lab, &binaries).context("cannot start the agents")?;
    println!("\nstarted ssinetd on every node; waiting for a director");
    let leader = agents::wait_for_leader(lab, Duration::from_secs(60))
        .context("the cluster did not settle")?;
    println!(
        "node {leader} directs; {} holds the CVIP",
        lab.node(leader).external_if()
    );
    if let Some(cvipctl) = &binaries.cvipctl {
        println!("\n$ ssinet-lab exec 1 --lab {name} -- cvipctl status");
        std::process::Command::new(cvipctl)
            .arg("status")
            .env(
                agents::ADMIN_SOCKET_ENV,
                agents::admin_socket(lab.config_dir(), 1),
            )
            .status()
            .with_context(|| format!("cannot run {}", cvipctl.display()))?;
    }
    println!(
        "\nagent logs: {}\nnext:   ssinet-lab exec N --lab {name} -- cvipctl lvs | port-weight list | ...\n        ssinet-lab partition N --lab {name}   (cut the director off and watch the CVIP move)\n        ssinet-lab down {name}",
        agents::log_path(lab.config_dir(), 1).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `cvipctl config check` on the files the lab wrote, so a newcomer sees at once what ssinetd
/// will read there. `cvipctl` is looked up beside this binary (cargo builds both into one dir).
fn check_config(lab: &Lab) -> anyhow::Result<ExitCode> {
    let cvipctl = std::env::current_exe()
        .context("cannot find this program's path")?
        .with_file_name("cvipctl");
    if !cvipctl.exists() {
        println!(
            "config check skipped: no {} (build it with `cargo build -p cvipctl`)",
            cvipctl.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let dir = lab.config_dir();
    let mut command = std::process::Command::new(&cvipctl);
    command
        .args(["config", "check", "--clustertab"])
        .arg(dir.join("clustertab"))
        .arg("--cvip-conf")
        .arg(dir.join("cvip.conf"))
        // Never the host's /etc/default one: the lab's own, or none (an empty file) in a DR
        // lab, which has none, as OpenSSI's DR clusters do.
        .arg("--lvs-routing")
        .arg(if dir.join("lvs_routing").exists() {
            dir.join("lvs_routing")
        } else {
            "/dev/null".into()
        });
    println!("\n$ cvipctl config check (on the lab's files)");
    let status = command
        .status()
        .with_context(|| format!("cannot run {}", cvipctl.display()))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn topology(name: &str, lab: &Lab) -> String {
    let mut text = String::new();
    macro_rules! out {
        ($($arg:tt)*) => { let _ = writeln!(text, $($arg)*); };
    }
    let spec = lab.spec();
    let routing = match spec.routing {
        Routing::Dr => "DR",
        Routing::Nat => "NAT",
    };
    out!("lab {name}: {} nodes, {routing}", spec.nodes);
    out!(
        "{:<7} {:<22} {:<20} {:<22} ROLE",
        "NODE",
        "NAMESPACE",
        "INTERCONNECT",
        "EXTERNAL"
    );
    let len = addressing::PREFIX_LEN;
    for node in lab.nodes() {
        out!(
            "{:<7} {:<22} {:<20} {:<22} {}",
            node.number(),
            node.netns().name(),
            format!(
                "{} {}/{len}",
                node.interconnect_if(),
                node.interconnect_ip()
            ),
            format!("{} {}/{len}", node.external_if(), node.external_ip()),
            if node.is_director() {
                "director"
            } else {
                "real server"
            },
        );
    }
    out!(
        "{:<7} {:<22} {:<20} {:<22} client",
        "client",
        lab.client().name(),
        "-",
        format!("{} {}/{len}", addressing::CLIENT_IF, lab.client_ip()),
    );
    out!(
        "{:<7} {:<22} {:<20} {:<22} the nodes' default gateway (answers ARP and ping, no forwarding)",
        "gateway",
        lab.gateway_netns().name(),
        "-",
        format!("{} {}/{len}", addressing::GATEWAY_IF, lab.gateway()),
    );
    out!(
        "{:<7} {:<22} {:<20} {:<22} bridges",
        "switch",
        lab.switch().name(),
        addressing::INTERCONNECT_BRIDGE,
        addressing::EXTERNAL_BRIDGE
    );
    out!("CVIP {} (held by the leading director)", lab.cvip());
    let mut files = vec!["clustertab", "cvip.conf"];
    if lab.internal_gateway().is_some() {
        files.push("lvs_routing");
    }
    out!(
        "config: {}/{{{}}}",
        lab.config_dir().display(),
        files.join(",")
    );
    out!("try:    ssinet-lab exec 1 --lab {name} -- ip -br addr");
    text
}

fn status(json: bool) -> anyhow::Result<ExitCode> {
    let labs = Lab::status_all().context("cannot read the lab records")?;
    if json {
        let json = serde_json::to_string_pretty(&labs).context("cannot encode the status")?;
        emit(&format!("{json}\n"))?;
    } else if labs.is_empty() {
        emit("no labs (ssinet-lab up --nodes 3 makes one)\n")?;
    } else {
        emit(&labs.iter().map(status_text).collect::<String>())?;
    }
    let healthy = labs.iter().all(|lab| lab.healthy);
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn status_text(lab: &LabStatus) -> String {
    let mut text = String::new();
    macro_rules! out {
        ($($arg:tt)*) => { let _ = writeln!(text, $($arg)*); };
    }
    let health = if lab.healthy { "healthy" } else { "UNHEALTHY" };
    out!("lab {}: {health}  ({})", lab.name, lab.dir);
    if !lab.nodes.is_empty() {
        out!(
            "  {:<7} {:<22} {:<14} {:<16} {:<6} {:<10} ROLE",
            "NODE",
            "NAMESPACE",
            "INTERCONNECT",
            "EXTERNAL",
            "LINKS",
            "SWITCH"
        );
    }
    for node in &lab.nodes {
        out!(
            "  {:<7} {:<22} {:<14} {:<16} {:<6} {:<10} {}",
            node.node,
            node.namespace,
            node.interconnect_ip,
            node.external_ip,
            if node.links_up { "up" } else { "DOWN" },
            if node.partitioned { "CUT" } else { "attached" },
            if node.director {
                "director"
            } else {
                "real server"
            },
        );
    }
    for endpoint in &lab.endpoints {
        out!(
            "  {:<7} {:<22} {:<14} {:<16} {:<6} {:<10} {}",
            endpoint.role,
            endpoint.namespace,
            "-",
            endpoint.ip,
            if endpoint.link_up { "up" } else { "DOWN" },
            if endpoint.attached { "attached" } else { "CUT" },
            endpoint.role,
        );
    }
    for problem in &lab.problems {
        out!("  problem: {problem}");
    }
    text
}

/// Writes to stdout; a closed pipe (`ssinet-lab status | head -1`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

fn down(name: Option<String>, all: bool) -> anyhow::Result<ExitCode> {
    let names = if all {
        records::list()?
    } else {
        vec![name.unwrap_or_else(|| DEFAULT_LAB.into())]
    };
    for name in &names {
        let removed =
            Lab::down_persistent(name).with_context(|| format!("cannot remove lab {name:?}"))?;
        println!("removed lab {name} ({} namespaces)", removed.len());
    }
    if all {
        let swept =
            ssinet_testbed::netns::sweep_stale().context("cannot sweep stale namespaces")?;
        if !swept.is_empty() {
            println!("removed {} namespaces left by dead test runs", swept.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The lab a command means: `--lab`, else the only lab, else the default one.
fn pick_lab(arg: LabArg) -> anyhow::Result<String> {
    if let Some(name) = arg.name {
        return Ok(name);
    }
    let labs = records::list()?;
    Ok(match labs.as_slice() {
        [only] => only.clone(),
        [] => bail!("no labs; make one with `ssinet-lab up`"),
        _ if labs.iter().any(|lab| lab == DEFAULT_LAB) => DEFAULT_LAB.to_owned(),
        _ => bail!("several labs ({}); pick one with --lab", labs.join(", ")),
    })
}

/// The namespace `target` (a node number, `client`, `gateway` or `switch`) names in a lab. Works
/// from the record alone, so it still reaches the rest of a lab that lost a namespace.
fn target_namespace(record: &records::LabRecord, target: &str) -> anyhow::Result<String> {
    let suffix = match target {
        "client" => "client".to_owned(),
        "gateway" => "gw".to_owned(),
        "switch" => "sw".to_owned(),
        number => {
            let number: u8 = number.parse().with_context(|| {
                format!("{number:?} is not a node number, `client`, `gateway` or `switch`")
            })?;
            if !(1..=record.spec.nodes).contains(&number) {
                bail!(
                    "lab {} has nodes 1..={}, not {number}",
                    record.name,
                    record.spec.nodes
                );
            }
            format!("n{number}")
        }
    };
    Ok(format!("{}{suffix}", record.prefix))
}

fn exec(target: &str, lab: LabArg, command: &[String]) -> anyhow::Result<ExitCode> {
    let name = pick_lab(lab)?;
    let record = records::read(&name).with_context(|| format!("cannot open lab {name:?}"))?;
    let namespace = target_namespace(&record, target)?;
    // `ip netns exec` also gives the command the namespace's view of /sys, as a person expects.
    let mut process = std::process::Command::new("ip");
    process.args(["netns", "exec", &namespace]).args(command);
    // `cvipctl`, `ssi-exec` and `ssinetd` by name are the ones built beside this program, as
    // `up`'s hints write them.
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let mut path = std::ffi::OsString::from(dir);
        if let Some(inherited) = std::env::var_os("PATH") {
            path.push(":");
            path.push(inherited);
        }
        process.env("PATH", path);
    }
    // On a node, `cvipctl` and `ssi-exec` find that node's agent.
    if let Ok(node) = target.parse::<u8>() {
        process
            .env(
                agents::ADMIN_SOCKET_ENV,
                agents::admin_socket(&record.dir(), node),
            )
            .env(
                agents::RSOCK_SOCKET_ENV,
                agents::rsock_socket(&record.dir(), node),
            );
    }
    let status = process
        .status()
        .context("cannot run `ip netns exec` (is iproute2 installed?)")?;
    let code = status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .unwrap_or(1);
    Ok(ExitCode::from(code))
}

fn ports(args: PortArgs, cut: bool) -> anyhow::Result<ExitCode> {
    let name = pick_lab(args.lab)?;
    let lab = Lab::attach(&name).with_context(|| format!("cannot open lab {name:?}"))?;
    let segments: &[Segment] = match args.segment {
        None => &Segment::BOTH,
        Some(SegmentArg::Interconnect) => &[Segment::Interconnect],
        Some(SegmentArg::External) => &[Segment::External],
    };
    if cut {
        lab.cut(args.node, segments)?;
        println!("node {} cut off", args.node);
    } else {
        lab.reconnect(args.node, segments)?;
        println!("node {} reconnected", args.node);
    }
    Ok(ExitCode::SUCCESS)
}
