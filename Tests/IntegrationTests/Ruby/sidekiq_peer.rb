# Sidekiq's own Ruby client and API, used by the interop tests as the reference peer.
# Usage: ruby sidekiq_peer.rb COMMAND [ARGS...]   (REDIS_URL selects the server and db)
require 'sidekiq'
require 'sidekiq/api'
require 'json'

Sidekiq.configure_client { |config| config.redis = { url: ENV.fetch('REDIS_URL') } }
Sidekiq.logger.level = Logger::WARN

command = ARGV.shift
case command
when 'push'
  # push COUNT PREFIX [SCHEDULED_COUNT]: RecordJobs keyed PREFIX-i, and PREFIX-si scheduled 1 s ahead
  count = Integer(ARGV[0]); prefix = ARGV[1]; scheduled = Integer(ARGV[2] || '0')
  jids = count.times.map { |i| Sidekiq::Client.push('class' => 'RecordJob', 'args' => ["#{prefix}-#{i}"]) }
  jids += scheduled.times.map { |i| Sidekiq::Client.push('class' => 'RecordJob', 'args' => ["#{prefix}-s#{i}"], 'at' => Time.now.to_f + 1) }
  puts JSON.generate(jids)
when 'push_migration'
  # push_migration MIGRATION_CLASS ARGS_JSON [SECONDS_AHEAD]: a GitLab BackgroundMigrationWorker job
  item = { 'class' => 'BackgroundMigrationWorker', 'queue' => 'background_migration', 'retry' => 3,
           'args' => [ARGV[0], JSON.parse(ARGV[1])] }
  item['at'] = Time.now.to_f + Float(ARGV[2]) if ARGV[2]
  puts Sidekiq::Client.push(item)
when 'push_bulk'
  count = Integer(ARGV[0]); klass = ARGV[1] || 'NoopJob'
  count.times.each_slice(1000) { |slice| Sidekiq::Client.push_bulk('class' => klass, 'args' => slice.map { |i| [i] }) }
  puts count
when 'inspect'
  stats = Sidekiq::Stats.new
  out = {
    'stats' => { 'processed' => stats.processed, 'failed' => stats.failed, 'scheduled' => stats.scheduled_size,
                 'retries' => stats.retry_size, 'dead' => stats.dead_size, 'processes' => stats.processes_size,
                 'enqueued' => stats.enqueued, 'workers' => stats.workers_size },
    'queues' => Sidekiq::Queue.all.map { |q|
      { 'name' => q.name, 'size' => q.size, 'latency' => q.latency,
        'jobs' => q.map { |j| { 'jid' => j.jid, 'class' => j.klass, 'args' => j.args, 'enqueued_at' => j.enqueued_at&.to_f } } }
    },
    'scheduled' => Sidekiq::ScheduledSet.new.map { |e| { 'jid' => e.jid, 'class' => e.klass, 'args' => e.args, 'at' => e.at.to_f } },
    'retries' => Sidekiq::RetrySet.new.map { |e|
      { 'jid' => e.jid, 'class' => e.klass, 'error_class' => e['error_class'], 'error_message' => e['error_message'],
        'retry_count' => e['retry_count'], 'failed_at' => e['failed_at'], 'at' => e.at.to_f }
    },
    'dead' => Sidekiq::DeadSet.new.map { |e|
      { 'jid' => e.jid, 'class' => e.klass, 'args' => e.args, 'error_class' => e['error_class'], 'error_message' => e['error_message'] }
    },
    'processes' => Sidekiq::ProcessSet.new.map { |p|
      { 'identity' => p['identity'], 'hostname' => p['hostname'], 'pid' => p['pid'], 'busy' => p['busy'],
        'concurrency' => p['concurrency'], 'queues' => p['queues'], 'quiet' => p['quiet'], 'beat' => p['beat'],
        'stopping' => p.stopping? }
    },
    'workers' => Sidekiq::Workers.new.map { |process, tid, work|
      { 'process' => process, 'tid' => tid, 'queue' => work['queue'], 'jid' => work['payload']['jid'],
        'class' => work['payload']['class'], 'run_at' => work['run_at'] }
    }
  }
  puts JSON.generate(out)
when 'process_fields'
  # Every field Sidekiq 6.4's ProcessSet exposes for each process, as its API reads them.
  fields = %w[hostname started_at pid tag concurrency queues labels identity busy beat quiet rss rtt_us
              version weights embedded capsules]
  set = Sidekiq::ProcessSet.new
  out = set.map { |p| fields.to_h { |f| [f, p[f]] }.merge('stopping' => p.stopping?, 'labels_method' => p.labels) }
  puts JSON.generate('processes' => out, 'total_concurrency' => set.total_concurrency, 'total_rss' => set.total_rss)
when 'quiet', 'stop'
  identity = ARGV[0]
  Sidekiq::ProcessSet.new.each { |p| (command == 'quiet' ? p.quiet! : p.stop!) if p['identity'] == identity }
  puts 'ok'
when 'retry_all'
  Sidekiq::RetrySet.new.retry_all
  puts 'ok'
else
  abort "unknown command #{command}"
end
