"""What every page shares, by concern, so that the pages hold widgets only:

- :mod:`pages.ui.sidebar`: the shared sidebar (dataset, preset, model, device); choices that persist across pages;
- :mod:`pages.ui.caches`: one dataset + model per choice and server process, explanations per sample or upload;
- :mod:`pages.ui.job_ui`: long work in a page run or as a background job (estimate, progress, Cancel, result);
- :mod:`pages.ui.readiness`: a page's context, and what must be trained first (offered as a job, never inline);
- :mod:`pages.ui.helpers`: work slots, error lines and boxes, progress bars, grids of maps.

A package, not pages: ``app.py`` lists the pages with ``st.navigation``."""
