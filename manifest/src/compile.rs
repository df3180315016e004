//! Turning a validated grpc dependency into what the executor stores: its
//! proto files compiled by the one proto front end
//! (`reprise_grpc_stub::model::source`), and the one dependency
//! configuration (`reprise_grpc_stub::config::GrpcDependencyConfig`) that
//! carries endpoint, auth, timeout and retry policy whole to the stored
//! component and the client.
//!
//! The compiled result is self-contained: the encoded `FileDescriptorSet`
//! includes every imported file, so the executor can rebuild the
//! [`DescriptorPool`] later without the `.proto` sources. Compiler errors
//! keep the front end's `file:line:column` diagnostics.

use std::path::PathBuf;

use prost_reflect::DescriptorPool;
use reprise_grpc_stub::config::{AuthConfig, GrpcDependencyConfig, KeepaliveConfig, RetryConfig};
use reprise_grpc_stub::model::source::{self, CompiledProtos};

use crate::auth::{AuthScheme, Username};
use crate::error::{Error, ProtoDiagnostic};
use crate::grpc::GrpcDependency;
use crate::retry::RetryPolicy;
use crate::yaml::Position;

/// A grpc dependency compiled to descriptors.
#[derive(Clone, Debug)]
pub struct CompiledGrpcDependency {
    /// Encoded `google.protobuf.FileDescriptorSet` with the dependency's own
    /// files and all their imports, in dependency order, including source
    /// info (comments) and custom options. This is the artefact to store.
    pub descriptor_set_bytes: Vec<u8>,
    /// The same descriptors, ready to use.
    pub pool: DescriptorPool,
    /// Full names (`core.todo.v1.TodoService`) of the services defined in the
    /// dependency's own proto files (not in imports), sorted.
    pub services: Vec<String>,
}

impl GrpcDependency {
    /// Compiles the proto files with the one proto front end.
    ///
    /// Fails with [`Error::Proto`] (each problem with file:line:column where
    /// the compiler gives a span) or [`Error::NoServices`] when the own files
    /// define no service.
    pub fn compile(&self) -> Result<CompiledGrpcDependency, Error> {
        if self.reflection {
            return Err(Error::NeedsReflection {
                dependency: self.owner.clone(),
            });
        }
        let files: Vec<PathBuf> = self.protos.iter().map(PathBuf::from).collect();
        let compiled: CompiledProtos =
            source::compile_files(&self.include, &files).map_err(|err| self.proto_error(err))?;
        let services = compiled.own_services();
        if services.is_empty() {
            return Err(Error::NoServices {
                dependency: self.owner.clone(),
                files: self.protos.clone(),
            });
        }
        Ok(CompiledGrpcDependency {
            descriptor_set_bytes: compiled.descriptor_set,
            pool: compiled.pool,
            services,
        })
    }

    /// Compiles the protos and returns the dependency's one configuration:
    /// what the CLI uploads with the component, the executor stores and
    /// configures its client from. Every setting is carried; the retry
    /// policy only when the manifest writes one (`retry_declared`), so a
    /// manifest without `retry` makes each call once.
    pub fn config(&self) -> Result<GrpcDependencyConfig, Error> {
        self.config_from(self.compile()?)
    }

    /// [`GrpcDependency::config`] with descriptors obtained otherwise (from
    /// the endpoint's server reflection, for `reflection: true`).
    pub fn config_from(
        &self,
        compiled: CompiledGrpcDependency,
    ) -> Result<GrpcDependencyConfig, Error> {
        let read_only_methods = self.read_only_methods(&compiled)?;
        Ok(GrpcDependencyConfig {
            name: self.owner.dependency.as_str().to_owned(),
            descriptor_set: compiled.descriptor_set_bytes,
            services: compiled.services,
            endpoint: self.endpoint.to_string(),
            timeout_ms: millis(self.timeout),
            auth: self.auth.as_ref().map(|auth| auth_config(&auth.scheme)),
            wit_namespace: self.wit.namespace.as_ref().map(|n| n.as_str().to_owned()),
            wit_version: self.wit.version.as_ref().map(ToString::to_string),
            retry: self.retry_declared.then(|| retry_config(&self.retry)),
            compression: self.compression,
            tls: self
                .tls
                .as_ref()
                .map(|tls| tls.config(&self.owner))
                .transpose()?,
            connect_timeout_ms: self.connection.connect_timeout.map(millis),
            keepalive: self
                .connection
                .keepalive
                .map(|(interval, timeout)| KeepaliveConfig {
                    interval_ms: millis(interval),
                    timeout_ms: millis(timeout),
                }),
            max_message_bytes: self.connection.max_message_size,
            read_only_methods,
        })
    }

    /// The `read-only-methods`, each checked to name a unary method of the
    /// dependency's services.
    fn read_only_methods(&self, compiled: &CompiledGrpcDependency) -> Result<Vec<String>, Error> {
        let mut unary = Vec::new();
        for service in &compiled.services {
            if let Some(service) = compiled.pool.get_service_by_name(service) {
                for method in service.methods() {
                    if !method.is_client_streaming() && !method.is_server_streaming() {
                        unary.push((method.name().to_owned(), method.full_name().to_owned()));
                    }
                }
            }
        }
        for name in &self.read_only_methods {
            if !unary
                .iter()
                .any(|(short, full)| short == name || full == name)
            {
                return Err(Error::UnknownMethod {
                    dependency: self.owner.clone(),
                    method: name.clone(),
                    known: unary.iter().map(|(short, _)| short.clone()).collect(),
                });
            }
        }
        Ok(self.read_only_methods.clone())
    }

    /// The front end's error as this crate reports it: owned by the
    /// dependency, positions in the manifest crate's terms.
    fn proto_error(&self, err: reprise_grpc_stub::Error) -> Error {
        let diagnostics = match err {
            reprise_grpc_stub::Error::ProtoCompile { diagnostics } => diagnostics
                .into_iter()
                .map(|d| ProtoDiagnostic {
                    file: d.file,
                    position: d.position.map(|at| Position {
                        line: at.line,
                        column: at.column,
                    }),
                    message: d.message,
                })
                .collect(),
            other => vec![ProtoDiagnostic {
                file: None,
                position: None,
                message: other.to_string(),
            }],
        };
        Error::Proto {
            dependency: self.owner.clone(),
            diagnostics,
        }
    }
}

pub(crate) fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn retry_config(policy: &RetryPolicy) -> RetryConfig {
    RetryConfig {
        max_attempts: policy.max_attempts,
        initial_backoff_ms: millis(policy.initial_backoff),
        max_backoff_ms: millis(policy.max_backoff),
        multiplier: policy.multiplier,
        retryable_codes: policy
            .retryable_codes
            .iter()
            .map(|code| code.name().to_owned())
            .collect(),
    }
}

pub(crate) fn auth_config(scheme: &AuthScheme) -> AuthConfig {
    match scheme {
        AuthScheme::Bearer { token_env } => AuthConfig::Bearer {
            token_env: token_env.to_string(),
        },
        AuthScheme::Basic {
            username,
            password_env,
        } => {
            let (username, username_env) = match username {
                Username::Inline(name) => (Some(name.clone()), None),
                Username::Env(var) => (None, Some(var.to_string())),
            };
            AuthConfig::Basic {
                username,
                username_env,
                password_env: password_env.to_string(),
            }
        }
        AuthScheme::ApiKey { header, value_env } => AuthConfig::ApiKey {
            header: header.clone(),
            value_env: value_env.to_string(),
        },
    }
}
