//! Connecting to the Kubernetes API: a kubeconfig file, the environment's
//! default, or the in-cluster ServiceAccount.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{path}: cannot read the kubeconfig: {source}")]
    Kubeconfig {
        path: String,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("cannot configure the client: {0}")]
    Config(String),
    #[error("cannot build the client: {0}")]
    Client(#[from] kube::Error),
}

/// A client from `kubeconfig`; else, in a pod, the in-cluster config; else,
/// when `infer` is set, whatever `$KUBECONFIG` / `~/.kube/config` say.
/// `Ok(None)` means: no cluster to talk to (offline).
pub async fn connect(kubeconfig: Option<&Path>, infer: bool) -> Result<Option<Client>, ConnectError> {
    match config(kubeconfig, infer).await? {
        Some(config) => Ok(Some(Client::try_from(config)?)),
        None => Ok(None),
    }
}

/// The client configuration [`connect`] uses (its `cluster_url` names the
/// API server in errors).
pub async fn config(kubeconfig: Option<&Path>, infer: bool) -> Result<Option<Config>, ConnectError> {
    let config = if let Some(path) = kubeconfig {
        let kc = Kubeconfig::read_from(path).map_err(|source| ConnectError::Kubeconfig {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| ConnectError::Config(e.to_string()))?
    } else if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        Config::incluster().map_err(|e| ConnectError::Config(e.to_string()))?
    } else if infer {
        let named = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
        let home = std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config"));
        if !named && !home.is_some_and(|p| p.exists()) {
            return Ok(None);
        }
        Config::infer().await.map_err(|e| ConnectError::Config(e.to_string()))?
    } else {
        return Ok(None);
    };
    Ok(Some(config))
}
