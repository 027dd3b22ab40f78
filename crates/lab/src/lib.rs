//! The lab: throwaway clusters for ssinet's tests, benchmarks and demo.
//!
//! - [`netns`]: an N-node cluster built from network namespaces on this machine (a switch
//!   namespace with the bridges, one namespace per node, a client namespace).
//! - [`vm`]: a qemu VM booting Debian's stock kernel, for what this machine's kernel lacks (IPVS).

pub mod netns;
pub mod vm;
