//! Which rank of a data-parallel run this process is: `mpirun -np N nndl train …` (built with
//! `--features mpi`) starts N processes that train one network together; rank 0 prints,
//! evaluates and saves, the others are silent. A process started alone is rank 0 of 1.

use anyhow::Context;
#[cfg(not(feature = "mpi"))]
use anyhow::bail;
use nndl::train::Collective;

/// This process's place in the run.
pub struct Ranks {
    pub rank: usize,
    pub size: usize,
    #[cfg(feature = "mpi")]
    mpi: Option<nndl::distributed::Mpi>,
}

/// How many ranks an MPI launcher (Open MPI's `mpirun`, MPICH's, Slurm's `srun`) started, from
/// the variables it sets, when more than one.
fn launched() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.trim().parse::<usize>().ok())
        .filter(|&n| n > 1)
}

/// Ranks on this machine (to share its cores among them).
fn local_ranks() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

impl Ranks {
    /// Joins the MPI job when an MPI launcher started this process as one of several ranks;
    /// otherwise this process is rank 0 of 1.
    pub fn start() -> anyhow::Result<Ranks> {
        let Some(n) = launched() else {
            return Ok(Ranks::alone());
        };
        #[cfg(feature = "mpi")]
        {
            let timeout = nndl::distributed::timeout_from_env().map_err(anyhow::Error::msg)?;
            let mpi = nndl::distributed::Mpi::init(timeout)
                .with_context(|| format!("mpirun started {n} ranks, but MPI could not be started"))?;
            Ok(Ranks { rank: mpi.rank(), size: mpi.size(), mpi: Some(mpi) })
        }
        #[cfg(not(feature = "mpi"))]
        bail!(
            "mpirun started {n} ranks, but this nndl was built without MPI: each would train alone and write the same files; build it with `cargo build --release --features mpi` (see README, Many machines)"
        )
    }

    /// A process alone: rank 0 of 1.
    pub fn alone() -> Ranks {
        Ranks {
            rank: 0,
            size: 1,
            #[cfg(feature = "mpi")]
            mpi: None,
        }
    }

    /// Whether this rank prints, evaluates and saves.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// The other ranks, when there are any.
    pub fn collective(&mut self) -> Option<&mut dyn Collective> {
        #[cfg(feature = "mpi")]
        if let Some(mpi) = self.mpi.as_mut() {
            return Some(mpi);
        }
        None
    }

    /// `--threads` as used: by default the machine's cores shared among its ranks.
    pub fn threads(&self, asked: Option<usize>) -> usize {
        match asked {
            None if self.size > 1 => (super::threads(None) / local_ranks()).max(1),
            asked => super::threads(asked),
        }
    }

    /// Rank 0's `seed`, on every rank (a seed drawn at random differs between processes).
    pub fn agree_seed(&mut self, seed: u64) -> anyhow::Result<u64> {
        let Some(c) = self.collective() else { return Ok(seed) };
        // Four 16-bit pieces, each exact in an f32.
        let mut pieces: Vec<f32> = (0..4).map(|i| ((seed >> (16 * i)) & 0xffff) as f32).collect();
        c.broadcast(&mut pieces, 0).context("agreeing on the seed")?;
        Ok(pieces.iter().enumerate().fold(0, |s, (i, &p)| s | ((p as u64) << (16 * i))))
    }

    /// What the ranks said to each other, for rank 0's report: `None` alone.
    pub fn traffic(&self, train_seconds: f64) -> Option<String> {
        #[cfg(feature = "mpi")]
        if let Some(mpi) = &self.mpi {
            let (calls, bytes, waited) = (mpi.calls(), mpi.bytes_reduced(), mpi.seconds_in_collectives());
            return Some(format!(
                "data-parallel: {} ranks; {calls} collective calls of {} on average ({:.1} MB in all from this rank); {waited:.2} s in them, {:.0}% of the {train_seconds:.2} s of training (waiting for the slowest rank included)",
                self.size,
                nndl::memory::human(u128::from(bytes / calls.max(1))),
                bytes as f64 / 1e6,
                100.0 * waited / train_seconds.max(1e-9)
            ));
        }
        let _ = train_seconds;
        None
    }

    /// Ends this rank's part: an error on any rank of several is printed (naming the rank)
    /// and ends every rank at once, so that none waits for this one.
    pub fn finish(self, result: anyhow::Result<()>) -> anyhow::Result<()> {
        #[cfg(feature = "mpi")]
        if let (Err(err), Some(mpi)) = (&result, &self.mpi) {
            eprintln!("error: rank {} of {}: {err:#}", self.rank, self.size);
            mpi.abort(1);
        }
        result
    }
}
