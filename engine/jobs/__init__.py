"""Long jobs: still-image batches, the export job queue, and running jobs on a Ray cluster."""
