# scripts/bench's driver: runs Sidekiq 6.4 and Conveyor side by side on the same Redis and
# PostgreSQL and prints a markdown table. Environment: REDIS_URL (a database it may flush),
# DATABASE_URL, CONVEYOR (the ConveyorBench binary), BENCH_JOBS, BENCH_MEMORY_JOBS,
# BENCH_BACKFILL_ROWS, BENCH_STEAL_JOBS, BENCH_WORKER_RECORDS, BENCH_RUNS; BENCH_ONLY=row,row selects rows (throughput, enqueue,
# latency, memory, backfill, cursor_backfill, worker_backfill, estimate, downtime, steal).
require_relative 'sidekiq/jobs'
require 'sidekiq/api'
require 'json'
require 'open3'
require 'etc'
require 'pg'
require 'securerandom'

ROOT = File.expand_path('..', __dir__)
CONVEYOR = ENV.fetch('CONVEYOR')
JOBS = Integer(ENV.fetch('BENCH_JOBS', '100000'))
MEMORY_JOBS = Integer(ENV.fetch('BENCH_MEMORY_JOBS', '1000000'))
BACKFILL_ROWS = Integer(ENV.fetch('BENCH_BACKFILL_ROWS', '2000000'))
STEAL_JOBS = Integer(ENV.fetch('BENCH_STEAL_JOBS', '100000'))
REAL_JOBS = Integer(ENV.fetch('BENCH_REAL_JOBS', '20000'))
DRILL_JOBS = Integer(ENV.fetch('BENCH_DRILL_JOBS', '50000'))
WORKER_RECORDS = Integer(ENV.fetch('BENCH_WORKER_RECORDS', '20000'))
RUNS = Integer(ENV.fetch('BENCH_RUNS', '3'))
LOGS = File.join(ROOT, '.data', 'bench')
Dir.mkdir(LOGS) unless Dir.exist?(LOGS)

def redis(&block) = Sidekiq.redis(&block)
def now = Process.clock_gettime(Process::CLOCK_REALTIME)
def flush! = redis { |c| c.flushdb }
def log(message) = $stderr.puts("  #{message}")
def median(values) = values.sort[values.size / 2]
def percentile(values, p) = values.sort[[(values.size * p).ceil - 1, 0].max]

def rss_kb(pid, field = 'VmRSS')
  File.read("/proc/#{pid}/status")[/#{field}:\s+(\d+)/, 1].to_i
end

def wait_for(timeout = 600)
  deadline = now + timeout
  until yield
    raise 'timed out' if now > deadline
    sleep 0.01
  end
end

SIDEKIQ = Gem.bin_path('sidekiq', 'sidekiq') rescue '/usr/bin/sidekiq'

# Sidekiq at its strongest here: YJIT on, logger at WARN (jobs.rb). Conveyor as deployed
# (the release build), logging at the same level (its default, INFO, writes a line per job).
# For memory Sidekiq's strongest is without YJIT (its code cache costs ~250 MiB of RSS).
def spawn_worker(kind, concurrency, name, extra = [], queues: ['default'], yjit: true)
  log_file = File.join(LOGS, "#{name}.log")
  before = redis { |c| c.smembers('processes') }
  env = { 'REDIS_URL' => ENV['REDIS_URL'], 'DATABASE_URL' => ENV['DATABASE_URL'] }
  queue_args = queues.flat_map { ['-q', _1] }
  pid = if kind == :sidekiq
          Process.spawn(env, 'ruby', *(yjit ? ['--yjit'] : []), SIDEKIQ, '-r', File.join(__dir__, 'sidekiq/jobs.rb'),
                        '-c', concurrency.to_s, *queue_args, out: log_file, err: log_file)
        else
          Process.spawn(env, CONVEYOR, 'worker', '-c', concurrency.to_s, '--log-level', 'warning', *queue_args, *extra, out: log_file, err: log_file)
        end
  # Ready when it has registered in the processes set (boot time is excluded).
  wait_for(120) { (redis { |c| c.smembers('processes') } - before).any? }
  sleep 1
  pid
end

def stop(pid)
  Process.kill('TERM', pid)
  Process.wait(pid)
rescue Errno::ESRCH, Errno::ECHILD
end

def fill(count, klass = 'NoopJob', key = 'queue:default')
  (0...count).each_slice(1000) { |slice| Sidekiq::Client.push_bulk('class' => klass, 'args' => slice.map { |i| [i] }) }
  redis { |c| c.rename('queue:default', key) } unless key == 'queue:default'
end

# Throughput: COUNT no-op jobs pushed by Sidekiq::Client, then a MarkJob; the queue is
# swapped in at once after the worker booted; the MarkJob's time ends the run.
def throughput(kind, count, concurrency: 10, extra: [], name: "throughput-#{kind}")
  flush!
  fill(count, 'NoopJob', 'queue:hold')
  redis { |c| c.lpush('queue:hold', JSON.generate('class' => 'MarkJob', 'args' => [], 'queue' => 'default', 'jid' => 'f' * 24, 'retry' => false, 'created_at' => now, 'enqueued_at' => now)) }
  pid = spawn_worker(kind, concurrency, name, extra)
  start = now
  redis { |c| c.rename('queue:hold', 'queue:default') }
  wait_for { redis { |c| c.get('bench:done') } }
  finished = redis { |c| c.get('bench:done') }.to_f
  rss = rss_kb(pid)
  stop(pid)
  { rate: (count + 1) / (finished - start), rss: rss }
end

def bulk_enqueue(kind, count)
  flush!
  if kind == :sidekiq
    start = now
    fill(count)
    count / (now - start)
  else
    out, status = Open3.capture2({ 'REDIS_URL' => ENV['REDIS_URL'] }, CONVEYOR, 'enqueue', 'NoopJob', '[1]', '--count', count.to_s, '--json')
    raise 'conveyor enqueue failed' unless status.success?
    count / JSON.parse(out)['seconds']
  end
end

# Enqueue-to-start at a low rate (50 jobs/s) into an idle worker.
def latency(kind, count: 200)
  flush!
  pid = spawn_worker(kind, 10, "latency-#{kind}")
  count.times do
    Sidekiq::Client.push('class' => 'LatencyJob', 'args' => [now])
    sleep 0.02
  end
  wait_for { redis { |c| c.llen('bench:latency') } >= count }
  values = redis { |c| c.lrange('bench:latency', 0, -1) }.map(&:to_f)
  stop(pid)
  { p50: percentile(values, 0.5), p99: percentile(values, 0.99) }
end

# Lateness of scheduled jobs: due times spread over 10 s, pushed with perform_at.
def scheduled_lateness(kind, count: 100)
  flush!
  pid = spawn_worker(kind, 10, "scheduled-#{kind}")
  base = now + 2
  count.times do |i|
    at = base + 10.0 * i / count
    Sidekiq::Client.push('class' => 'LatencyJob', 'args' => [at], 'at' => at)
  end
  wait_for(120) { redis { |c| c.llen('bench:latency') } >= count }
  values = redis { |c| c.lrange('bench:latency', 0, -1) }.map(&:to_f)
  stop(pid)
  { p50: percentile(values, 0.5), p99: percentile(values, 0.99) }
end

def memory(kind, count)
  flush!
  pid = spawn_worker(kind, 10, "memory-#{kind}", yjit: false)
  sleep 4
  idle = rss_kb(pid)
  idle_anon = rss_kb(pid, 'RssAnon')
  fill(count)
  redis { |c| c.lpush('queue:default', JSON.generate('class' => 'MarkJob', 'args' => [], 'queue' => 'default', 'jid' => 'e' * 24, 'retry' => false, 'created_at' => now, 'enqueued_at' => now)) }
  wait_for(3600) { redis { |c| c.get('bench:done') } }
  busy = rss_kb(pid)
  busy_anon = rss_kb(pid, 'RssAnon')
  stop(pid)
  { idle: idle, after: busy, idle_anon: idle_anon, after_anon: busy_anon }
end

def psql(sql)
  out, err, status = Open3.capture3('psql', ENV.fetch('DATABASE_URL'), '-v', 'ON_ERROR_STOP=1', '-qAtc', sql)
  raise "psql failed: #{err}" unless status.success?
  out
end

def backfill_table(name)
  psql(<<~SQL)
    DROP TABLE IF EXISTS #{name} CASCADE;
    CREATE TABLE #{name} (id serial PRIMARY KEY, payload text, id_convert_to_bigint bigint NOT NULL DEFAULT 0);
    INSERT INTO #{name} (payload) SELECT 'payload ' || g FROM generate_series(1, #{BACKFILL_ROWS}) g;
  SQL
  psql("VACUUM ANALYZE #{name}")
  psql('CHECKPOINT')
  # Earlier rows leave hundreds of MiB of worker logs being written back; every timed run
  # starts with the page cache clean, so none pays for the previous row's I/O.
  system('sync') or raise 'sync failed'
end

def timed
  start = now
  yield
  now - start
end

def backfill
  results = {}
  backfill_table('bench_backfill')
  psql("DELETE FROM batched_background_migrations WHERE table_name = 'bench_backfill'") rescue nil
  system({ 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, 'migrations', 'setup', out: File::NULL) or raise 'setup failed'
  system({ 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, 'migrations', 'queue', 'CopyColumnUsingBackgroundMigrationJob',
         'bench_backfill', 'id', '[["id"],["id_convert_to_bigint"]]', '--batch-size', '10000', '--sub-batch-size', '10000',
         '--pause-ms', '0', '--interval', '0', out: File::NULL) or raise 'queue failed'
  # The optimizer would grow batches (interval 0 disables it): batches stay at 10,000 rows.
  results[:conveyor] = timed do
    system({ 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, 'migrations', 'finalize', 'CopyColumnUsingBackgroundMigrationJob',
           'bench_backfill', 'id', '[["id"],["id_convert_to_bigint"]]', out: File.join(LOGS, 'finalize.log'), err: File.join(LOGS, 'finalize.log')) or raise 'finalize failed'
  end
  raise 'backfill incomplete' unless psql('SELECT count(*) FROM bench_backfill WHERE id <> id_convert_to_bigint').strip == '0'

  # The same with two batches at a time (finalize --concurrency 2).
  backfill_table('bench_backfill')
  psql("DELETE FROM batched_background_migrations WHERE table_name = 'bench_backfill'")
  system({ 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, 'migrations', 'queue', 'CopyColumnUsingBackgroundMigrationJob',
         'bench_backfill', 'id', '[["id"],["id_convert_to_bigint"]]', '--batch-size', '10000', '--sub-batch-size', '10000',
         '--pause-ms', '0', '--interval', '0', out: File::NULL) or raise 'queue failed'
  results[:conveyor2] = timed do
    system({ 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, 'migrations', 'finalize', '--concurrency', '2', 'CopyColumnUsingBackgroundMigrationJob',
           'bench_backfill', 'id', '[["id"],["id_convert_to_bigint"]]', out: File.join(LOGS, 'finalize2.log'), err: File.join(LOGS, 'finalize2.log')) or raise 'finalize failed'
  end
  raise 'backfill incomplete' unless psql('SELECT count(*) FROM bench_backfill WHERE id <> id_convert_to_bigint').strip == '0'

  results[:loop] = keyset_loop_seconds

  backfill_table('bench_backfill')
  results[:single] = timed { psql('UPDATE bench_backfill SET id_convert_to_bigint = id') }
  psql('DROP TABLE bench_backfill CASCADE')
  results
end

# The in-server reference for the cursor rows: the same keyset walk over (partition_id, id)
# in PL/pgSQL, 10,000 rows per batch, committing after each.
def cursor_table(name)
  psql(<<~SQL)
    DROP TABLE IF EXISTS #{name} CASCADE;
    CREATE TABLE #{name} (partition_id integer NOT NULL, id bigint NOT NULL, n bigint NOT NULL, a bigint NOT NULL DEFAULT 0,
                          PRIMARY KEY (partition_id, id));
    INSERT INTO #{name} (partition_id, id, n) SELECT g % 16 + 1, g, g FROM generate_series(1, #{BACKFILL_ROWS}) g;
  SQL
  psql("VACUUM ANALYZE #{name}")
  psql('CHECKPOINT')
  system('sync') or raise 'sync failed'
end

def conveyor!(*args, log: File::NULL)
  system({ 'REDIS_URL' => ENV['REDIS_URL'], 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, *args, out: log, err: log) or raise "conveyor #{args.first(2).join(' ')} failed"
end

def cursor_backfill
  results = {}
  cursor_table('bench_cursor')
  conveyor!('migrations', 'setup')
  psql("DELETE FROM batched_background_migrations WHERE table_name = 'bench_cursor'")
  conveyor!('migrations', 'queue', 'CopyColumnUsingBackgroundMigrationJob', 'bench_cursor', 'partition_id', '[["n"],["a"]]',
            '--cursor', 'partition_id,id', '--batch-size', '10000', '--sub-batch-size', '10000', '--pause-ms', '0', '--interval', '0')
  results[:conveyor] = timed do
    conveyor!('migrations', 'finalize', 'CopyColumnUsingBackgroundMigrationJob', 'bench_cursor', 'partition_id', '[["n"],["a"]]',
              log: File.join(LOGS, 'finalize-cursor.log'))
  end
  raise 'cursor backfill incomplete' unless psql('SELECT count(*) FROM bench_cursor WHERE a <> n').strip == '0'

  cursor_table('bench_cursor')
  psql(<<~SQL)
    CREATE OR REPLACE PROCEDURE bench_cursor_copy() LANGUAGE plpgsql AS $$
    DECLARE lo_p integer := 0; lo_i bigint := 0; hi_p integer; hi_i bigint;
    BEGIN
      LOOP
        SELECT b.partition_id, b.id INTO hi_p, hi_i FROM (
          SELECT partition_id, id FROM bench_cursor WHERE (partition_id, id) > (lo_p, lo_i) ORDER BY partition_id, id LIMIT 10000) b
        ORDER BY b.partition_id DESC, b.id DESC LIMIT 1;
        EXIT WHEN hi_p IS NULL;
        UPDATE bench_cursor SET a = n WHERE (partition_id, id) > (lo_p, lo_i) AND (partition_id, id) <= (hi_p, hi_i);
        COMMIT;
        lo_p := hi_p; lo_i := hi_i; hi_p := NULL;
      END LOOP;
    END $$;
  SQL
  results[:loop] = timed { psql('CALL bench_cursor_copy()') }
  raise 'cursor loop incomplete' unless psql('SELECT count(*) FROM bench_cursor WHERE a <> n').strip == '0'
  psql('DROP TABLE bench_cursor CASCADE; DROP PROCEDURE bench_cursor_copy()')
  results
end

# A worker (all of Conveyor's default queues, 10 processors) already running; 20,000
# RecordJobs pushed to `default`, then the migration queued with --interval 0: the time
# from the queue command to the migration's finished_at, scheduler path included.
def worker_backfill_seconds
  flush!
  backfill_table('bench_backfill')
  # Autovacuum would start on the table mid-run, and a worker puts a migration on hold
  # while it does (GitLab's health rule; finalize ignores it): off for both runs here.
  psql('ALTER TABLE bench_backfill SET (autovacuum_enabled = false)')
  conveyor!('migrations', 'setup')
  psql("DELETE FROM batched_background_migrations WHERE table_name = 'bench_backfill'")
  psql('CREATE TABLE IF NOT EXISTS conveyor_records (key text PRIMARY KEY, runs int NOT NULL DEFAULT 0); TRUNCATE conveyor_records')
  log_file = File.join(LOGS, 'worker-backfill.log')
  before = redis { |c| c.smembers('processes') }
  pid = Process.spawn({ 'REDIS_URL' => ENV['REDIS_URL'], 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, 'worker', '-c', '10',
                      out: log_file, err: log_file)
  wait_for(120) { (redis { |c| c.smembers('processes') } - before).any? }
  sleep 1
  (0...WORKER_RECORDS).each_slice(1000) { |slice| Sidekiq::Client.push_bulk('class' => 'RecordJob', 'args' => slice.map { |i| ["k#{i}"] }) }
  start = now
  conveyor!('migrations', 'queue', 'CopyColumnUsingBackgroundMigrationJob', 'bench_backfill', 'id', '[["id"],["id_convert_to_bigint"]]',
            '--batch-size', '10000', '--sub-batch-size', '10000', '--pause-ms', '0', '--interval', '0')
  # One process on one connection waits (a psql per poll would fork a backend each time,
  # which costs the server more than the batches' bookkeeping).
  conveyor!('migrations', 'wait', '--interval', '0.5')
  finished = psql("SELECT extract(epoch FROM finished_at) FROM batched_background_migrations WHERE table_name = 'bench_backfill' AND status = 3").strip
  raise 'worker backfill did not finish' if finished.empty?
  seconds = finished.to_f - start
  wait_for(600) { sleep 0.5; psql('SELECT count(*) FROM conveyor_records').strip == WORKER_RECORDS.to_s }
  stop(pid)
  raise 'worker backfill incomplete' unless psql('SELECT count(*) FROM bench_backfill WHERE id <> id_convert_to_bigint').strip == '0'

  seconds
end

# The in-server keyset loop over bench_backfill (10,000 rows per batch, a commit after
# each), on a fresh table: the reference of the backfill, worker-backfill and downtime rows.
def keyset_loop_seconds(autovacuum: true)
  backfill_table('bench_backfill')
  psql('ALTER TABLE bench_backfill SET (autovacuum_enabled = false)') unless autovacuum
  psql(<<~SQL)
    CREATE OR REPLACE PROCEDURE bench_keyset_copy() LANGUAGE plpgsql AS $$
    DECLARE low bigint := 1; high bigint;
    BEGIN
      LOOP
        SELECT max(id) INTO high FROM (SELECT id FROM bench_backfill WHERE id >= low ORDER BY id LIMIT 10000) b;
        EXIT WHEN high IS NULL;
        UPDATE bench_backfill SET id_convert_to_bigint = id WHERE id BETWEEN low AND high;
        COMMIT;
        low := high + 1;
      END LOOP;
    END $$;
  SQL
  seconds = timed { psql('CALL bench_keyset_copy()') }
  psql('DROP PROCEDURE bench_keyset_copy()')
  seconds
end

ESTIMATE_PACE = ['--batch-size', '10000', '--sub-batch-size', '2500', '--pause-ms', '5', '--interval', '0'].freeze
COPY = ['CopyColumnUsingBackgroundMigrationJob', 'bench_backfill', 'id', '[["id"],["id_convert_to_bigint"]]'].freeze

# `migrations estimate ID --json` of a queued 2M-row copy (batches of 10,000, sub-batches of
# 2,500, 5 ms pauses), then `finalize` of the same migration in the same run: the printed
# finalize range against the time finalize took.
def estimate_accuracy
  backfill_table('bench_backfill')
  conveyor!('migrations', 'setup')
  psql("DELETE FROM batched_background_migrations WHERE table_name = 'bench_backfill'")
  conveyor!('migrations', 'queue', *COPY, *ESTIMATE_PACE)
  id = psql("SELECT id FROM batched_background_migrations WHERE table_name = 'bench_backfill'").strip
  out, err, status = Open3.capture3({ 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, 'migrations', 'estimate', id, '--json')
  raise "estimate failed: #{err}" unless status.success?
  File.write(File.join(LOGS, 'estimate.json'), out)
  estimate = JSON.parse(out)
  raise 'estimate changed the table' unless psql('SELECT count(*) FROM bench_backfill WHERE id_convert_to_bigint <> 0').strip == '0'
  actual = timed { conveyor!('migrations', 'finalize', *COPY, log: File.join(LOGS, 'finalize-estimated.log')) }
  raise 'finalize incomplete' unless psql('SELECT count(*) FROM bench_backfill WHERE id <> id_convert_to_bigint').strip == '0'
  log "estimate: #{estimate['sampled_batches']} samples in #{fmt(estimate['elapsed_seconds'], 1)} s; finalize #{fmt(estimate['finalize_seconds'], 1)} s " \
      "(#{fmt(estimate['finalize_seconds_low'], 1)}–#{fmt(estimate['finalize_seconds_high'], 1)}), actual #{fmt(actual, 1)} s; " \
      "downtime #{fmt(estimate['downtime_seconds'], 1)} s; WAL #{fmt(estimate['wal_bytes'] / 1048576.0, 1)} MiB"
  psql('DROP TABLE bench_backfill CASCADE')
  { estimate: estimate['finalize_seconds'], low: estimate['finalize_seconds_low'], high: estimate['finalize_seconds_high'], actual: actual,
    downtime: estimate['downtime_seconds'] }
end

# `finalize --downtime` of a 2M-row copy queued with the defaults (GitLab's: batches of 1,000,
# sub-batches of 100, 100 ms pauses), against the in-server keyset loop.
def downtime_finalize
  backfill_table('bench_backfill')
  conveyor!('migrations', 'setup')
  psql("DELETE FROM batched_background_migrations WHERE table_name = 'bench_backfill'")
  conveyor!('migrations', 'queue', *COPY)
  conveyor_seconds = timed { conveyor!('migrations', 'finalize', *COPY, '--downtime', log: File.join(LOGS, 'finalize-downtime.log')) }
  raise 'downtime finalize incomplete' unless psql('SELECT count(*) FROM bench_backfill WHERE id <> id_convert_to_bigint').strip == '0'
  batches = psql("SELECT count(*) FROM batched_background_migration_jobs j JOIN batched_background_migrations m ON m.id = j.batched_background_migration_id WHERE m.table_name = 'bench_backfill'").strip
  log "finalize --downtime: #{fmt(conveyor_seconds, 2)} s in #{batches} batches"
  loop_seconds = keyset_loop_seconds
  psql('DROP TABLE bench_backfill CASCADE')
  { conveyor: conveyor_seconds, loop: loop_seconds }
end

# GitLab's steal as the reference: walk the scheduled set and the queue with Sidekiq's API,
# delete each job, perform it if the delete succeeded.
def ruby_steal
  performed = 0
  [Sidekiq::ScheduledSet.new, Sidekiq::Queue.new('background_migration')].each do |source|
    source.each do |job|
      next unless job.klass == 'BackgroundMigrationWorker' && job.args.first == 'NoopMigration'
      performed += 1 if job.delete
    end
  end
  performed
end

def steal(kind, count)
  flush!
  (0...count).each_slice(1000) do |slice|
    Sidekiq::Client.push_bulk('class' => 'BackgroundMigrationWorker', 'queue' => 'background_migration', 'retry' => 3,
                              'args' => slice.map { |i| ['NoopMigration', [i]] })
  end
  performed = 0
  seconds = timed do
    if kind == :ruby
      performed = ruby_steal
    else
      out, status = Open3.capture2({ 'REDIS_URL' => ENV['REDIS_URL'], 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, 'steal', 'NoopMigration', '--json')
      raise 'conveyor steal failed' unless status.success?
      performed = JSON.parse(out)['performed']
    end
  end
  raise "#{kind} steal ran #{performed} of #{count}" unless performed == count
  count / seconds
end


def db = ($db ||= PG.connect(ENV.fetch('DATABASE_URL')))
def records_table! = db.exec('DROP TABLE IF EXISTS conveyor_records; CREATE TABLE conveyor_records (key text PRIMARY KEY, runs int NOT NULL DEFAULT 0)')
def records = db.exec('SELECT count(*) AS keys, coalesce(sum(runs), 0) AS runs FROM conveyor_records').first.transform_values(&:to_i)
def mark_job(jid = 'f' * 24) = JSON.generate('class' => 'MarkJob', 'args' => [], 'queue' => 'default', 'jid' => jid, 'retry' => false, 'created_at' => now, 'enqueued_at' => now)
def raw_job(klass, args, queue: 'default') = JSON.generate('class' => klass, 'args' => args, 'queue' => queue, 'jid' => SecureRandom.hex(12), 'retry' => true, 'created_at' => now, 'enqueued_at' => now)

# Real jobs: COUNT jobs that each upsert one row (distinct keys), drained by 10 threads /
# processors, against pgbench running the same upsert from 10 clients (-M prepared is
# pgbench at its strongest; Conveyor's RecordJob and the Ruby one prepare it too).
def real_jobs(kind, count)
  records_table!
  if kind == :loop
    out, status = Open3.capture2e({ 'DATABASE_URL' => ENV['DATABASE_URL'] }, CONVEYOR, 'upsert-loop', '10', count.to_s)
    raise "upsert-loop failed: #{out}" unless status.success?
    return JSON.parse(out)['per_second'].to_f
  end
  if kind.to_s.start_with?('pgbench')
    script = File.join(LOGS, 'upsert.sql')
    File.write(script, "\\set k random(1, 1000000000000)\nINSERT INTO conveyor_records (key, runs) VALUES ('p-' || :k, 1) ON CONFLICT (key) DO UPDATE SET runs = conveyor_records.runs + 1;\n")
    mode = kind == :pgbench_simple ? 'simple' : 'prepared'
    out, status = Open3.capture2e('pgbench', '-n', '-M', mode, '-c', '10', '-j', '2', '-t', (count / 10).to_s, '-f', script, ENV.fetch('DATABASE_URL'))
    raise "pgbench failed: #{out}" unless status.success?
    return out[/tps = ([\d.]+) \(without initial connection time\)/, 1].to_f
  end
  flush!
  (0...count).each_slice(1000) { |slice| Sidekiq::Client.push_bulk('class' => 'RecordJob', 'args' => slice.map { |i| ["r-#{i}"] }) }
  redis { |c| c.rename('queue:default', 'queue:hold'); c.lpush('queue:hold', mark_job) }
  pid = spawn_worker(kind, 10, "realjobs-#{kind}")
  start = now
  redis { |c| c.rename('queue:hold', 'queue:default') }
  wait_for { redis { |c| c.get('bench:done') } }
  finished = redis { |c| c.get('bench:done') }.to_f
  wait_for(30) { records['keys'] == count }
  stop(pid)
  raise "#{kind}: #{records} after #{count} real jobs" unless records == { 'keys' => count, 'runs' => count }
  count / (finished - start)
end

# Head-of-line: SLOW 4-second jobs spread among FAST upserts, all queued before the
# worker (10 threads/processors) sees them; the time until every upsert is done.
def head_of_line(kind, fast: 2000, slow: 5)
  records_table!
  flush!
  step = fast / slow
  jobs = []
  fast.times do |i|
    jobs << raw_job('SleepJob', [4000]) if (i % step) == step / 2
    jobs << raw_job('RecordJob', ["h-#{i}"])
  end
  redis { |c| jobs.each_slice(1000) { |slice| c.lpush('queue:hold', slice) } }
  pid = spawn_worker(kind, 10, "hol-#{kind}")
  start = now
  redis { |c| c.rename('queue:hold', 'queue:default') }
  wait_for(120) { records['keys'] == fast }
  elapsed = now - start
  stop(pid)
  elapsed
end

# Idle pick-up: an idle worker (5 threads/processors) serving 40 queues; one job at a time is
# pushed to one of them; each records enqueue-to-start.
def idle_pickup(kind, pushes: 40)
  flush!
  queues = (1..40).map { "q#{_1}" }
  pid = spawn_worker(kind, 5, "pickup-#{kind}", queues: queues)
  sleep 3
  pushes.times do |i|
    Sidekiq::Client.push('class' => 'LatencyJob', 'queue' => queues[(i * 7 + 39) % 40], 'args' => [now])
    sleep 0.3
  end
  wait_for(60) { redis { |c| c.llen('bench:latency') } >= pushes }
  values = redis { |c| c.lrange('bench:latency', 0, -1) }.map(&:to_f)
  stop(pid)
  { p50: percentile(values, 0.5), max: values.max }
end

# kill -9 of a worker (10 threads/processors) a quarter into COUNT upserts, then a fresh
# worker finishes: jobs lost, jobs run twice, and (Conveyor) how long the dead worker's jobs
# waited before they were pushed back.
def kill_drill(kind, count)
  records_table!
  flush!
  (0...count).each_slice(1000) { |slice| Sidekiq::Client.push_bulk('class' => 'RecordJob', 'args' => slice.map { |i| ["k-#{i}"] }) }
  pid = spawn_worker(kind, 10, "kill-#{kind}")
  wait_for(300) { records['keys'] >= count / 4 }
  dead = redis { |c| c.smembers('processes') }.first
  Process.kill('KILL', pid)
  Process.wait(pid)
  killed = now
  redis { |c| c.srem('processes', dead) } if kind == :sidekiq  # Sidekiq would drop it after 60 s
  second = spawn_worker(kind, 10, "kill2-#{kind}")
  recovery = nil
  if kind == :conveyor
    wait_for(120) { redis { |c| c.hvals('conveyor:working-lists') }.none? { _1.start_with?("#{dead}\t") } }
    recovery = now - killed
  end
  live = redis { |c| c.smembers('processes') } - [dead]
  wait_for(300) { redis { |c| c.llen('queue:default').zero? && live.all? { |p| c.hget(p, 'busy').to_i.zero? } } && records['keys'] >= count - 100 }
  sleep 1
  stop(second)
  result = records
  { lost: count - result['keys'], twice: result['runs'] - result['keys'], recovery: recovery }
end

def fmt(n, digits = 0) = digits.zero? ? n.round.to_s.reverse.scan(/\d{1,3}/).join(',').reverse : format("%.#{digits}f", n)
# "3.2× lower" when Conveyor's time is lower, "2.0× higher" when it is not.
def lower(reference, conveyor) = reference >= conveyor ? "#{fmt(reference / conveyor, 1)}× lower" : "#{fmt(conveyor / reference, 1)}× higher"
def ms(s) = "#{fmt(s * 1000, s < 0.01 ? 2 : 0)} ms"
def mib(kb) = "#{fmt(kb / 1024.0, 1)} MiB"

ONLY = ENV.fetch('BENCH_ONLY', '').split(',')
def run?(name) = ONLY.empty? || ONLY.include?(name)

rows = []
if run?('throughput')
log "throughput: #{JOBS} no-op jobs, 10 threads/processors, #{RUNS} run(s) each"
sk = Array.new(RUNS) { throughput(:sidekiq, JOBS) }
cv = Array.new(RUNS) { throughput(:conveyor, JOBS) }
sk_rate = median(sk.map { _1[:rate] }); cv_rate = median(cv.map { _1[:rate] })
rows << ["Throughput, #{fmt(JOBS)} no-op jobs (jobs/s)", fmt(sk_rate), fmt(cv_rate), "#{fmt(cv_rate / sk_rate, 1)}×"]
end

if run?('metrics')
log "Sidekiq metrics: #{JOBS} no-op jobs, Conveyor with them (the default) vs --no-sidekiq-metrics, #{RUNS} run(s) each, alternating"
off = []; on = []
RUNS.times do
  off << throughput(:conveyor, JOBS, extra: ['--no-sidekiq-metrics'], name: 'throughput-metrics-off')
  on << throughput(:conveyor, JOBS, name: 'throughput-metrics-on')
end
off_rate = median(off.map { _1[:rate] }); on_rate = median(on.map { _1[:rate] })
per_job_ns = (1.0 / on_rate - 1.0 / off_rate) * 1e9
rows << ["Throughput with Sidekiq's execution metrics on (reference: `--no-sidekiq-metrics`), #{fmt(JOBS)} no-op jobs (jobs/s)",
         fmt(off_rate), fmt(on_rate), "#{fmt(on_rate / off_rate, 2)}× (#{per_job_ns >= 0 ? '+' : '−'}#{fmt(per_job_ns.abs)} ns/job)"]
out, status = Open3.capture2(CONVEYOR, 'observer-cost')
raise 'observer-cost failed' unless status.success?
cost = JSON.parse(out)
rows << ['Sidekiq metrics recording per job, in process (short / long class name)', '—',
         "#{fmt(cost['short_class_ns'], 1)} / #{fmt(cost['long_class_ns'], 1)} ns", '']
end

if run?('enqueue')

log 'bulk enqueue'
sk_push = median(Array.new(RUNS) { bulk_enqueue(:sidekiq, JOBS) })
cv_push = median(Array.new(RUNS) { bulk_enqueue(:conveyor, JOBS) })
rows << ["Bulk enqueue, #{fmt(JOBS)} jobs (jobs/s)", fmt(sk_push), fmt(cv_push), "#{fmt(cv_push / sk_push, 1)}×"]
end

if run?('latency')

log 'latency'
sk_lat = latency(:sidekiq); cv_lat = latency(:conveyor)
rows << ['Enqueue→start p50 at 50 jobs/s', ms(sk_lat[:p50]), ms(cv_lat[:p50]), lower(sk_lat[:p50], cv_lat[:p50])]
rows << ['Enqueue→start p99 at 50 jobs/s', ms(sk_lat[:p99]), ms(cv_lat[:p99]), lower(sk_lat[:p99], cv_lat[:p99])]
sk_sched = scheduled_lateness(:sidekiq); cv_sched = scheduled_lateness(:conveyor)
rows << ['Scheduled job lateness p50', ms(sk_sched[:p50]), ms(cv_sched[:p50]), lower(sk_sched[:p50], cv_sched[:p50])]
rows << ['Scheduled job lateness p99', ms(sk_sched[:p99]), ms(cv_sched[:p99]), lower(sk_sched[:p99], cv_sched[:p99])]
end

if run?('memory')

log "memory: idle, then after #{MEMORY_JOBS} jobs"
sk_mem = memory(:sidekiq, MEMORY_JOBS); cv_mem = memory(:conveyor, MEMORY_JOBS)
rows << ['RSS of an idle worker', mib(sk_mem[:idle]), mib(cv_mem[:idle]), "#{fmt(sk_mem[:idle].to_f / cv_mem[:idle], 1)}× smaller"]
rows << ["RSS after draining #{fmt(MEMORY_JOBS)} jobs", mib(sk_mem[:after]), mib(cv_mem[:after]), "#{fmt(sk_mem[:after].to_f / cv_mem[:after], 1)}× smaller"]
rows << ['Private (anonymous) memory of an idle worker', mib(sk_mem[:idle_anon]), mib(cv_mem[:idle_anon]), "#{fmt(sk_mem[:idle_anon].to_f / cv_mem[:idle_anon], 1)}× smaller"]
rows << ["Private (anonymous) memory after #{fmt(MEMORY_JOBS)} jobs", mib(sk_mem[:after_anon]), mib(cv_mem[:after_anon]), "#{fmt(sk_mem[:after_anon].to_f / cv_mem[:after_anon], 1)}× smaller"]
end

if run?('backfill')

log "backfill: #{BACKFILL_ROWS} rows int→bigint"
bf = backfill
rows << ["Backfill #{fmt(BACKFILL_ROWS)} rows, `finalize`: vs in-server PL/pgSQL keyset loop (rows/s)", fmt(BACKFILL_ROWS / bf[:loop]), fmt(BACKFILL_ROWS / bf[:conveyor]), "#{fmt(bf[:loop] / bf[:conveyor], 2)}×"]
rows << ["Backfill #{fmt(BACKFILL_ROWS)} rows, `finalize --concurrency 2`: vs the same loop (rows/s)", fmt(BACKFILL_ROWS / bf[:loop]), fmt(BACKFILL_ROWS / bf[:conveyor2]), "#{fmt(bf[:loop] / bf[:conveyor2], 2)}×"]
rows << ["Backfill #{fmt(BACKFILL_ROWS)} rows, `finalize`: vs a single UPDATE (rows/s)", fmt(BACKFILL_ROWS / bf[:single]), fmt(BACKFILL_ROWS / bf[:conveyor]), "#{fmt(bf[:single] / bf[:conveyor], 2)}×"]
end

if run?('cursor_backfill')

log "cursor backfill: #{BACKFILL_ROWS} rows over (partition_id, id)"
cb = cursor_backfill
rows << ["Backfill #{fmt(BACKFILL_ROWS)} rows over (partition_id, id), `finalize` with `--cursor`: vs in-server PL/pgSQL keyset loop over the same key (rows/s)", fmt(BACKFILL_ROWS / cb[:loop]), fmt(BACKFILL_ROWS / cb[:conveyor]), "#{fmt(cb[:loop] / cb[:conveyor], 2)}×"]
end

if run?('worker_backfill')

log "worker backfill: #{BACKFILL_ROWS} rows, --interval 0, by a worker draining #{fmt(WORKER_RECORDS)} RecordJobs alongside"
# The machine's speed drifts by up to 1.6× within minutes: worker and loop alternate,
# RUNS rounds, and the row gives the medians (each round's ratio is logged).
wb_rounds = Array.new(RUNS) { { conveyor: worker_backfill_seconds, loop: keyset_loop_seconds(autovacuum: false) } }
log "worker backfill per round (seconds, worker / loop): #{wb_rounds.map { |r| "#{fmt(r[:conveyor], 2)} / #{fmt(r[:loop], 2)} (#{fmt(r[:loop] / r[:conveyor], 2)}×)" }.join(', ')}"
wb = %i[conveyor loop].to_h { |k| [k, median(wb_rounds.map { _1[k] })] }
rows << ["Backfill #{fmt(BACKFILL_ROWS)} rows by a worker (`--interval 0`, scheduler path, #{fmt(WORKER_RECORDS)} RecordJobs alongside): vs in-server PL/pgSQL keyset loop, #{RUNS} interleaved rounds (rows/s)", fmt(BACKFILL_ROWS / wb[:loop]), fmt(BACKFILL_ROWS / wb[:conveyor]), "#{fmt(wb[:loop] / wb[:conveyor], 2)}×"]
end

if run?('estimate')
log "estimate: #{BACKFILL_ROWS} rows, estimate then finalize of the same migration"
ea = estimate_accuracy
inside = ea[:actual].between?(ea[:low], ea[:high]) ? 'inside' : 'OUTSIDE'
rows << ["`migrations estimate` of a #{fmt(BACKFILL_ROWS)}-row finalize (batches 10,000, sub-batches 2,500, 5 ms pauses): actual time vs the estimate (low–high)",
         "#{fmt(ea[:actual], 1)} s", "#{fmt(ea[:estimate], 1)} s (#{fmt(ea[:low], 1)}–#{fmt(ea[:high], 1)})",
         "#{fmt(ea[:actual] / ea[:estimate], 2)}× of the estimate, #{inside} the range"]
end

if run?('downtime')
log "downtime: #{BACKFILL_ROWS} rows queued with the defaults, finalize --downtime vs the in-server loop"
dt = downtime_finalize
rows << ["Backfill #{fmt(BACKFILL_ROWS)} rows queued with the defaults (1,000 / 100 / 100 ms), `finalize --downtime`: vs in-server PL/pgSQL keyset loop (rows/s)",
         fmt(BACKFILL_ROWS / dt[:loop]), fmt(BACKFILL_ROWS / dt[:conveyor]), "#{fmt(dt[:loop] / dt[:conveyor], 2)}×"]
end

if run?('steal')

log "steal: #{STEAL_JOBS} queued BackgroundMigrationWorker jobs"
rb_steal = steal(:ruby, STEAL_JOBS); cv_steal = steal(:conveyor, STEAL_JOBS)
rows << ["Steal #{fmt(STEAL_JOBS)} queued jobs vs GitLab's steal loop (jobs/s)", fmt(rb_steal), fmt(cv_steal), "#{fmt(cv_steal / rb_steal, 1)}×"]
end

if run?('realjobs')
log "real jobs: #{REAL_JOBS} upserts, 10 threads/processors/clients, #{RUNS} interleaved round(s)"
kinds = %i[pgbench conveyor sidekiq loop pgbench_simple]
rounds = Array.new(RUNS) { kinds.to_h { [_1, real_jobs(_1, REAL_JOBS)] } }
rj = kinds.to_h { |k| [k, median(rounds.map { _1[k] })] }
log "real jobs per round: #{rounds.map { |r| r.transform_values { fmt(_1) } }}"
rows << ["Real jobs: #{fmt(REAL_JOBS)} jobs of one upsert each, 10 threads/processors (jobs/s)", fmt(rj[:sidekiq]), fmt(rj[:conveyor]), "#{fmt(rj[:conveyor] / rj[:sidekiq], 1)}×"]
rows << ["Real jobs vs `pgbench -M prepared`, the same upsert from 10 clients (tx/s)", fmt(rj[:pgbench]), fmt(rj[:conveyor]), "#{fmt(rj[:conveyor] / rj[:pgbench], 2)}×"]
rows << ["Real jobs vs `pgbench` (simple protocol, its default) (tx/s)", fmt(rj[:pgbench_simple]), fmt(rj[:conveyor]), "#{fmt(rj[:conveyor] / rj[:pgbench_simple], 2)}×"]
rows << ["Real jobs vs the same upsert in a bare loop of 10 Swift threads, one connection each, no queue (tx/s)", fmt(rj[:loop]), fmt(rj[:conveyor]), "#{fmt(rj[:conveyor] / rj[:loop], 2)}×"]
end

if run?('headofline')
log 'head-of-line: 5 × 4 s jobs among 2,000 upserts'
sk_hol = median(Array.new(RUNS) { head_of_line(:sidekiq) }); cv_hol = median(Array.new(RUNS) { head_of_line(:conveyor) })
rows << ['Head-of-line: 5 jobs of 4 s among 2,000 upserts, 10 threads/processors: all upserts done after', ms(sk_hol), ms(cv_hol), lower(sk_hol, cv_hol)]
end

if run?('pickup')
log 'idle pick-up over 40 queues'
sk_pick = idle_pickup(:sidekiq); cv_pick = idle_pickup(:conveyor)
rows << ['Idle pick-up over 40 queues (enqueue→start), p50', ms(sk_pick[:p50]), ms(cv_pick[:p50]), lower(sk_pick[:p50], cv_pick[:p50])]
rows << ['Idle pick-up over 40 queues (enqueue→start), worst of 40', ms(sk_pick[:max]), ms(cv_pick[:max]), lower(sk_pick[:max], cv_pick[:max])]
end

if run?('killdrill')
log "kill -9 drill: #{DRILL_JOBS} upserts"
sk_kill = kill_drill(:sidekiq, DRILL_JOBS); cv_kill = kill_drill(:conveyor, DRILL_JOBS)
rows << ["kill -9 during #{fmt(DRILL_JOBS)} upserts, 10 threads/processors: jobs lost", fmt(sk_kill[:lost]), fmt(cv_kill[:lost]), '—']
rows << ["kill -9 during #{fmt(DRILL_JOBS)} upserts: jobs run twice (bound: the 10 running)", fmt(sk_kill[:twice]), fmt(cv_kill[:twice]), '—']
rows << ['kill -9: the dead worker\'s jobs back in the queue after', 'never (OSS)', "#{fmt(cv_kill[:recovery], 1)} s", '—']
end

cpu = File.read('/proc/cpuinfo')[/model name\s*:\s*(.*)/, 1]
mem = File.read('/proc/meminfo')[/MemTotal:\s+(\d+)/, 1].to_i / 1024 / 1024
versions = {
  'conveyor' => `#{CONVEYOR} --version`.strip, 'sidekiq' => Sidekiq::VERSION, 'ruby' => RUBY_VERSION,
  'redis' => redis { |c| c.info['redis_version'] }, 'postgresql' => psql('SHOW server_version').strip,
  'swift' => `swift --version 2>&1`[/Swift version (\S+)/, 1]
}
puts "Machine: #{Etc.nprocessors} cores (#{cpu}), #{mem} GiB; #{versions.map { |k, v| "#{k} #{v}" }.join(', ')}."
puts "Date: #{Time.now.utc.strftime('%Y-%m-%d')}. Median of #{RUNS} run(s) where repeated. Boot time excluded."
puts
puts '| benchmark | Sidekiq 6.4 / reference | Conveyor | ratio |'
puts '|---|---:|---:|---:|'
rows.each { |r| puts "| #{r.join(' | ')} |" }
