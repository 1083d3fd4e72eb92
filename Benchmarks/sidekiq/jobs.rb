# The Sidekiq side of scripts/bench: the same jobs ConveyorBench registers.
require 'sidekiq'
Redis.sadd_returns_boolean = false if Redis.respond_to?(:sadd_returns_boolean=)
Sidekiq.configure_server do |c|
  c.redis = { url: ENV.fetch('REDIS_URL') }
  # At its strongest: no log line per job (its INFO default writes two).
  c.logger.level = Logger::WARN
end
Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch('REDIS_URL') } }

class NoopJob
  include Sidekiq::Worker
  def perform(*); end
end

class MarkJob
  include Sidekiq::Worker
  def perform(*)
    Sidekiq.redis { |c| c.set('bench:done', Time.now.to_f) }
  end
end

class LatencyJob
  include Sidekiq::Worker
  def perform(since)
    Sidekiq.redis { |c| c.rpush('bench:latency', Time.now.to_f - since) }
  end
end

# The real-job rows: one upsert per job, on a connection per Sidekiq thread (ruby-pg).
class RecordJob
  include Sidekiq::Worker
  UPSERT = 'INSERT INTO conveyor_records (key, runs) VALUES ($1, 1) ON CONFLICT (key) DO UPDATE SET runs = conveyor_records.runs + 1'
  def perform(key)
    require 'pg'
    conn = (Thread.current[:bench_pg] ||= PG.connect(ENV.fetch('DATABASE_URL')).tap { |c| c.prepare('upsert', UPSERT) })
    conn.exec_prepared('upsert', [key.to_s])
  end
end

class SleepJob
  include Sidekiq::Worker
  def perform(ms = 1000) = sleep(ms / 1000.0)
end
