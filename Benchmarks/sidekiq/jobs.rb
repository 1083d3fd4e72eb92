# The Sidekiq side of scripts/bench: the same jobs ConveyorBench registers.
require 'sidekiq'
Redis.sadd_returns_boolean = false if Redis.respond_to?(:sadd_returns_boolean=)
Sidekiq.configure_server { |c| c.redis = { url: ENV.fetch('REDIS_URL') } }
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
