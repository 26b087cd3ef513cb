"""Haven's durable job queue (Dramatiq over the database, Redis or RabbitMQ).

from haven.jobs import JobQueue
queue = JobQueue.from_url(settings.jobs_url, engine)          # "" → the database, no server
queue.register("webhook.deliver", deliver, max_retries=7, min_backoff=1, on_dead=mark_dead)
queue.enqueue("webhook.deliver", run_id)                      # durable before it returns
with queue.worker(threads=2):                                 # or `haven worker`
    ...
queue.dead_letters()                                          # failed every try, with the error
"""

from haven.jobs.deadletters import DeadLetter
from haven.jobs.queue import Job, JobQueue, JobWorker, current_try

__all__ = ["DeadLetter", "Job", "JobQueue", "JobWorker", "current_try"]
