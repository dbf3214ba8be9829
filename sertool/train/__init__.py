"""Training: configuration (``config``), corpora and folds (``sources``), batches (``data``,
``sampling``), schedules, loss-weighted multi-task updates with checkpoints and exact resume
(``trainer``, ``checkpoint``, ``logs``), several processes (``distributed``), and the fold runner
behind ``sertool train`` / ``sertool eval`` (``runner``)."""
