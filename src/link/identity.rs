//! A node's static X25519 key pair, and the file that keeps it.
//!
//! The public key is the node's identity: peers pin it in node references
//! (`fog:<public key>@host:port`), and the Noise handshake proves that the
//! other end holds the matching private key.
//!
//! On disk the identity is a file holding exactly the 32 private-key bytes
//! and nothing else, readable and writable by its owner only.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use snow::params::DHChoice;
use snow::resolvers::{CryptoResolver, DefaultResolver};

use super::LinkError;
use crate::wire::NodeRef;

/// Bytes of an X25519 private or public key.
pub const KEY_SIZE: usize = 32;

/// A node's static X25519 key pair.
///
/// `Debug` shows the public key only; the private key never leaves this type
/// except through the handshake and [`Identity::load_or_create`]'s file.
#[derive(Clone)]
pub struct Identity {
    private: [u8; KEY_SIZE],
    public: [u8; KEY_SIZE],
}

impl Identity {
    /// A fresh key pair from the operating system's random source.
    ///
    /// # Panics
    ///
    /// If the operating system's random source fails.
    pub fn generate() -> Identity {
        let mut private = [0; KEY_SIZE];
        rand::rngs::OsRng.fill_bytes(&mut private);
        Identity::from_private(private)
    }

    /// The key pair with this private key (any 32 bytes: X25519 clamps them).
    pub fn from_private(private: [u8; KEY_SIZE]) -> Identity {
        let public = public_key(&private);
        Identity { private, public }
    }

    /// The public key: the node's identity on the network.
    pub fn public(&self) -> [u8; KEY_SIZE] {
        self.public
    }

    /// The node reference that tells peers to reach this node at `addr`.
    pub fn node_ref(&self, addr: SocketAddr) -> NodeRef {
        NodeRef {
            identity: self.public,
            addr,
        }
    }

    /// The private key, for the handshake.
    pub(crate) fn private(&self) -> &[u8; KEY_SIZE] {
        &self.private
    }

    /// Loads the identity kept at `path`, or creates one there if no file
    /// exists.
    ///
    /// The file holds exactly the 32 private-key bytes. A new file is written
    /// to a temporary file in the same directory (owner-only, mode 0600 on
    /// unix), synced, and renamed into place, so a crash never leaves a
    /// half-written key under `path`.
    ///
    /// Errors: [`LinkError::IdentityLength`] for a file of another length,
    /// [`LinkError::IdentityPermissions`] (unix) for a file that group or
    /// others may access, [`LinkError::IdentityFile`] for any I/O failure.
    pub fn load_or_create(path: &Path) -> Result<Identity, LinkError> {
        match Identity::load(path) {
            Err(LinkError::IdentityFile { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let identity = Identity::generate();
                identity.save_new(path)?;
                tracing::info!(path = %path.display(), "created a new node identity");
                Ok(identity)
            }
            other => other,
        }
    }

    /// Loads the identity kept at `path`, with the checks of
    /// [`Identity::load_or_create`]; a missing file is an error.
    pub fn load(path: &Path) -> Result<Identity, LinkError> {
        let file_error = |source| LinkError::IdentityFile {
            path: path.to_owned(),
            source,
        };
        let mut file = File::open(path).map_err(file_error)?;
        // Check the file we opened, not the path, so nothing can be swapped
        // in between.
        let meta = file.metadata().map_err(file_error)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(LinkError::IdentityPermissions {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        if meta.len() != KEY_SIZE as u64 {
            return Err(LinkError::IdentityLength {
                path: path.to_owned(),
                len: meta.len(),
            });
        }
        let mut private = [0; KEY_SIZE];
        file.read_exact(&mut private).map_err(file_error)?;
        // The file must end here (it may have grown since the check).
        let mut extra = [0; 1];
        if file.read(&mut extra).map_err(file_error)? != 0 {
            return Err(LinkError::IdentityLength {
                path: path.to_owned(),
                len: KEY_SIZE as u64 + 1,
            });
        }
        Ok(Identity::from_private(private))
    }

    /// Writes the private key to a new owner-only temporary file next to
    /// `path` and renames it to `path`.
    fn save_new(&self, path: &Path) -> Result<(), LinkError> {
        let tmp = temp_path(path);
        let file_error = |p: &Path, source| LinkError::IdentityFile {
            path: p.to_owned(),
            source,
        };
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options.open(&tmp).and_then(|mut file| {
            file.write_all(&self.private)?;
            file.sync_all()
        });
        if let Err(source) = written {
            let _ = fs::remove_file(&tmp);
            return Err(file_error(&tmp, source));
        }
        if let Err(source) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(file_error(path, source));
        }
        // Make the rename itself durable (best effort: not every platform
        // can open a directory).
        if let Some(Ok(dir)) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(File::open)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public", &URL_SAFE_NO_PAD.encode(self.public))
            .finish_non_exhaustive()
    }
}

impl PartialEq for Identity {
    /// Two identities are equal when their public keys are (the private key
    /// determines the public key).
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}

impl Eq for Identity {}

/// The X25519 public key of `private`, computed by `snow`'s own 25519
/// implementation (the one the handshake uses).
fn public_key(private: &[u8; KEY_SIZE]) -> [u8; KEY_SIZE] {
    let mut dh = DefaultResolver
        .resolve_dh(&DHChoice::Curve25519)
        .expect("snow is built with the use-curve25519 feature");
    dh.set(private);
    let mut public = [0; KEY_SIZE];
    public.copy_from_slice(dh.pubkey());
    public
}

/// Whether `public` is an X25519 point of small order (one of the eight
/// points, in any of their encodings, whose product with every clamped
/// scalar is the all-zero value). A Diffie-Hellman with such a key gives
/// all zeros whatever the other side's secret is, so a handshake that used
/// one would authenticate nobody (protocol §11.2): such keys are refused as
/// static and as ephemeral keys, and in node references.
pub fn is_small_order(public: &[u8; KEY_SIZE]) -> bool {
    let mut dh = DefaultResolver
        .resolve_dh(&DHChoice::Curve25519)
        .expect("snow is built with the use-curve25519 feature");
    // Any scalar will do: clamping makes it a multiple of the cofactor,
    // which sends exactly the small-order points to zero.
    dh.set(&[1; KEY_SIZE]);
    let mut shared = [0; KEY_SIZE];
    dh.dh(public, &mut shared)
        .expect("X25519 takes any 32 bytes");
    shared == [0; KEY_SIZE]
}

/// `<path>.<random>.tmp`, in the same directory as `path` so the rename
/// stays on one file system.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{:016x}.tmp", rand::rngs::OsRng.next_u64()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_matches_snow_keypair_generation() {
        let keypair = snow::Builder::new(super::super::NOISE_PATTERN.parse().unwrap())
            .generate_keypair()
            .unwrap();
        let private: [u8; 32] = keypair.private.as_slice().try_into().unwrap();
        assert_eq!(
            Identity::from_private(private).public().as_slice(),
            keypair.public.as_slice()
        );
    }

    #[test]
    fn debug_hides_the_private_key() {
        let id = Identity::from_private([7; 32]);
        let text = format!("{id:?}");
        assert!(text.contains(&URL_SAFE_NO_PAD.encode(id.public())));
        assert!(!text.contains(&URL_SAFE_NO_PAD.encode([7u8; 32])));
        assert!(!text.contains("7, 7"));
    }

    #[test]
    fn generated_identities_differ() {
        assert_ne!(Identity::generate(), Identity::generate());
    }
}
