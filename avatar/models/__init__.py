"""Everything about finding, installing, loading and sharing models.

`catalog` declares every model the studio can use; `registry` resolves, loads
(once), pins and evicts them; `installs` pulls or imports them on request;
`loaders` builds each kind from its folder; `devices` picks cuda, mps or cpu and
the dtype; `job_queue` lets one heavy job at a time use the accelerator;
`memory` keeps the process's heap from fragmenting over long jobs.
"""
