# Reads Sidekiq's execution metrics the way the Metrics page of Sidekiq 7.3 and of 8.x
# does (Sidekiq::Metrics::Query and Histogram#fetch): the same key names built with Ruby's
# strftime, the same hash fields, BITFIELD_RO of 26 u16 counters. Debian ships Sidekiq 6.4,
# which has no metrics; this script stands in for the two newer readers.
# Usage: ruby sidekiq_metrics_query.rb MINUTES CLASS...   (REDIS_URL selects the server and db)
# Prints JSON: per version and granularity, per class, p/f/ms summed over the window, the
# histogram buckets summed (bucket 0 = under 20 ms), and the TTL of every key it read.
require 'sidekiq'
require 'json'

Sidekiq.configure_client { |config| config.redis = { url: ENV.fetch('REDIS_URL') } }
minutes = Integer(ARGV.shift)
classes = ARGV
now = Time.now.utc
ttls = {}

def read_counters(conn, keys, ttls)
  totals = Hash.new { |h, k| h[k] = Hash.new(0) }
  keys.each do |key|
    hash = conn.hgetall(key)
    ttls[key] = conn.ttl(key) unless hash.empty?
    hash.each do |field, value|
      klass, metric = field.split('|')
      totals[klass][metric] += value.to_i
    end
  end
  totals
end

def read_histograms(conn, classes, times, ttls, &key_for)
  gets = (0...26).flat_map { |i| ['GET', 'u16', "##{i}"] }
  classes.to_h do |klass|
    sums = Array.new(26, 0)
    times.each do |t|
      key = key_for.call(klass, t)
      next unless conn.exists?(key)
      ttls[key] = conn.ttl(key)
      conn.call('BITFIELD_RO', key, *gets).each_with_index { |count, i| sums[i] += count.to_i }
    end
    [klass, sums]
  end
end

minute_times = (0...minutes).map { |i| now - 60 * i }
ten_minute_times = (0...6).map { |i| now - 600 * i }
result = Sidekiq.redis do |conn|
  {
    'v7' => {
      # 7.3: j|%Y%m%d|<hour>:<min>, no leading zeros; histograms <Class>-%d-%H:%-M
      'minutely' => read_counters(conn, minute_times.map { |t| "j|#{t.strftime('%Y%m%d')}|#{t.hour}:#{t.min}" }, ttls),
      'histograms' => read_histograms(conn, classes, minute_times, ttls) { |k, t| "#{k}-#{t.strftime('%d-%H:%-M')}" }
    },
    'v8' => {
      # 8.x: j|%y%m%d|%-H:%M per minute; the 10-minute key drops the last minute digit
      'minutely' => read_counters(conn, minute_times.map { |t| t.strftime('j|%y%m%d|%-H:%M') }, ttls),
      'hourly' => read_counters(conn, ten_minute_times.map { |t|
        tens = t.min < 10 ? '0' : t.min.to_s[0]
        t.strftime("j|%y%m%d|%-H:#{tens}")
      }, ttls),
      'histograms' => read_histograms(conn, classes, minute_times, ttls) { |k, t| "h|#{k}-#{t.strftime('%-d-%-H:%-M')}" }
    }
  }
end
result['ttls'] = ttls
puts JSON.generate(result)
