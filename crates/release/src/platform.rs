//! The validated platform config with its root, and manifests loaded
//! against it.

use std::path::{Path, PathBuf};

use preflight_manifest::{Environment, Manifest, Module, PlatformConfig};

use crate::error::Error;

/// The name of the environment that runs on the project's own throwaway cluster.
pub const LOCAL_ENV: &str = "local";

/// A loaded, valid platform config (`preflight.yaml`). Its root is the
/// config file's folder as an absolute path, never empty.
#[derive(Debug)]
pub struct Platform {
    /// The validated config; `config.path` is absolute.
    pub config: PlatformConfig,
    /// Warnings the config had, rendered (errors stop [`Platform::load`]).
    pub warnings: String,
}

impl Platform {
    /// Loads and validates `path`; invalid config is an error carrying every problem.
    pub fn load(path: &Path) -> Result<Platform, Error> {
        let mut checked = PlatformConfig::load(path).map_err(|source| Error::Load {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        let rendered = checked.render();
        match checked.value.take() {
            Some(mut config) if !checked.has_errors() => {
                // A bare `preflight.yaml` has an empty parent: anchor it.
                config.path = std::path::absolute(path).map_err(|source| Error::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Ok(Platform {
                    warnings: if checked.diagnostics.is_empty() {
                        String::new()
                    } else {
                        rendered
                    },
                    config,
                })
            }
            _ => Err(Error::InvalidConfig {
                rendered: rendered.trim_end().to_string(),
            }),
        }
    }

    /// The folder relative paths start from: the config file's, absolute.
    pub fn root(&self) -> &Path {
        self.config.root()
    }

    /// `<root>/.preflight`: the local cluster, artifacts of `local` runs, release state.
    pub fn state_dir(&self) -> PathBuf {
        self.root().join(".preflight")
    }

    /// The module called `name`, or an error listing the modules there are.
    pub fn module(&self, name: &str) -> Result<&Module, Error> {
        self.config.module(name).ok_or_else(|| Error::Unknown {
            what: "module",
            name: name.to_string(),
            config: self.config.path.clone(),
            known: self.config.modules.iter().map(|m| m.name.clone()).collect(),
        })
    }

    /// The environment called `env`, or an error listing the environments there are.
    pub fn environment(&self, env: &str) -> Result<&Environment, Error> {
        self.config.environment(env).ok_or_else(|| Error::Unknown {
            what: "environment",
            name: env.to_string(),
            config: self.config.path.clone(),
            known: self.config.env_names(),
        })
    }

    /// Modules that declare migrations, in config order.
    pub fn migrating_modules(&self) -> Vec<&Module> {
        self.config
            .modules
            .iter()
            .filter(|m| m.migrations.is_some())
            .collect()
    }

    /// A module's migration source and the folder it reads, under its checkout.
    pub fn migrations_dir(
        &self,
        module: &str,
    ) -> Result<(&Module, &preflight_manifest::MigrationSource, PathBuf), Error> {
        let m = self.module(module)?;
        let source = m.migrations.as_ref().ok_or_else(|| Error::Module {
            module: module.to_string(),
            problem: "declares no migrations".into(),
        })?;
        Ok((m, source, self.root().join(&m.repo).join(&source.dir)))
    }

    /// Loads a manifest and validates it on its own and against this
    /// config: for `env` (which it must be for), or for whichever of the
    /// config's environments it names when `env` is `None`.
    pub fn load_manifest(&self, path: &Path, env: Option<&str>) -> Result<Manifest, Error> {
        // The environment the manifest is for decides which database URLs must exist.
        let named_env = match env {
            Some(e) => Some(e.to_string()),
            None => std::fs::read_to_string(path).ok().and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("release_id:"))
                    .and_then(|id| id.trim().trim_matches(['"', '\'']).get(11..))
                    .map(str::to_string)
            }),
        };
        let options = preflight_manifest::ValidateOptions {
            expected_env: env.map(str::to_string),
            known_envs: Some(self.config.env_names()),
            platform: Some(self.config.facts(named_env.as_deref())),
        };
        let mut checked = Manifest::load(path, &options).map_err(|source| Error::Load {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        let rendered = checked.render();
        match checked.value.take() {
            Some(m) if !checked.has_errors() => Ok(m),
            _ => Err(Error::InvalidManifest {
                rendered: rendered.trim_end().to_string(),
            }),
        }
    }
}

/// `user@host`, recorded in ledgers and logs as who did it.
pub fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        user
    } else {
        format!("{user}@{host}")
    }
}
